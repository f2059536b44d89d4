// C import surface for zlib: gzip-compressed IDX files (Datasets) and PNG compression (Distillation).
#include <zlib.h>
