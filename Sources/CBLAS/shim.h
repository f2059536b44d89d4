// C import surface for OpenBLAS. Only TensorCore/BLAS.swift imports this module.
#include <cblas.h>
// Declared by OpenBLAS's cblas.h on Debian; repeated here in case another CBLAS header is picked up.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
char *openblas_get_config(void);
