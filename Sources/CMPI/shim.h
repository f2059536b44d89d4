// C import surface for Open MPI. Only DistributedMPI imports this module.
// Open MPI's handles (MPI_COMM_WORLD, MPI_SUM, ...) are macros over addresses of incomplete
// structs that Swift cannot import; these static inline getters expose them.
#include <mpi.h>

// Communicators.
static inline MPI_Comm eqc_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm eqc_comm_null(void) { return MPI_COMM_NULL; }

// Datatypes.
static inline MPI_Datatype eqc_type_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype eqc_type_int(void) { return MPI_INT; }
static inline MPI_Datatype eqc_type_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype eqc_type_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype eqc_type_double(void) { return MPI_DOUBLE; }

// Reduction operations.
static inline MPI_Op eqc_op_sum(void) { return MPI_SUM; }
static inline MPI_Op eqc_op_max(void) { return MPI_MAX; }
static inline MPI_Op eqc_op_min(void) { return MPI_MIN; }

// Error handlers.
static inline MPI_Errhandler eqc_errors_return(void) { return MPI_ERRORS_RETURN; }

// Special buffer and status arguments.
static inline void *eqc_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *eqc_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *eqc_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }

// Wildcards and null handles.
static inline int eqc_any_source(void) { return MPI_ANY_SOURCE; }
static inline int eqc_any_tag(void) { return MPI_ANY_TAG; }
static inline int eqc_undefined(void) { return MPI_UNDEFINED; }
static inline MPI_Request eqc_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Message eqc_message_null(void) { return MPI_MESSAGE_NULL; }
