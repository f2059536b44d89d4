// C import surface for zlib (gzip-compressed IDX files). Only Datasets imports this module.
#include <zlib.h>
