// C import surface for Open MPI. Only DistributedMPI imports this module.
// Open MPI's handles (MPI_COMM_WORLD, MPI_SUM, ...) are macros over addresses of incomplete
// structs that Swift cannot import; these static inline getters expose them.
#include <mpi.h>
static inline MPI_Comm eqc_comm_world(void) { return MPI_COMM_WORLD; }
