# Environment for equicert MPI jobs. Source it (bash/sh) before mpirun/srun, or let cluster/mpirun-equicert and
# cluster/slurm-certify.sbatch source it. Every value is a default: a variable already set in the caller's
# environment wins. Export with `mpirun -x NAME` (the wrapper does) so remote ranks see the same values.

# One OpenBLAS thread per rank: the certification work is split across ranks, so ranks should fill the cores
# (one rank per core); a second BLAS thread per rank then only competes for the same core (measured: unpinned
# 2 threads per rank cost 5-7 %). Raise it only when running fewer ranks than cores.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

# Waiting ranks yield the CPU instead of spinning. Needed when ranks outnumber cores (oversubscription), and
# between network-namespace hosts on one machine (without it a 1 MB allreduce took 24 ms instead of 1 ms).
# Costs nothing measurable when every rank has its own core.
export OMPI_MCA_mpi_yield_when_idle="${OMPI_MCA_mpi_yield_when_idle:-1}"

# OpenBLAS kernel choice. Unset = OpenBLAS detects the CPU (Cooperlake kernels on Zen 4); where OpenBLAS 0.3.21
# does not know the CPU and falls back to its SSE3 "Prescott" kernels (newer Intel Xeons), equicert re-executes
# itself with SkylakeX or Haswell (`equicert info` says so). On the project's Zen 4 machines Haswell kernels
# measured about 7 % faster on square sgemm and 15-60 % on conv-like shapes: measure on your machine
# (`equicert bench`) before setting it. Any value set here turns equicert's own choice off.
# export OPENBLAS_CORETYPE=Haswell

# Open MPI refuses to run as root unless told; containers and CI run as root. Only set when we are root.
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT="${OMPI_ALLOW_RUN_AS_ROOT:-1}"
    export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}"
fi

# Multi-homed machines: restrict Open MPI to the network that connects the nodes (both the runtime's out-of-band
# channel and the MPI TCP transport), e.g. a private subnet or an interface name. Unset = Open MPI tries all.
# export OMPI_MCA_oob_tcp_if_include=192.168.1.0/24
# export OMPI_MCA_btl_tcp_if_include=192.168.1.0/24
