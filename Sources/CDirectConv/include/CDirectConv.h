// Direct convolution micro-kernels (x86-64 AVX2 + FMA and AVX-512F, chosen at run time). See DirectConv.c.
#ifndef EQUICERT_CDIRECTCONV_H
#define EQUICERT_CDIRECTCONV_H

/// 1 when this CPU runs the AVX2/FMA kernel (x86-64 with avx2 and fma), else 0 (then callers use im2col + GEMM).
int equicert_direct_conv_available(void);

/// Output tiles of one zero-padded chunk of samples. For output position p (samples of the chunk flattened,
/// `per_sample` positions each, row width `out_width`), output channel o:
///   y[p·co + o] = bias[o] + Σ_t Σ_c padded[base(p) + tap_offset[t] + c] · panels[((o/16)·taps + t)·ci·16 + c·16 + o%16]
/// with base(p) = sample·padded_sample + ((q / out_width)·stride·padded_width + (q % out_width)·stride)·ci,
/// q = p mod per_sample. Sums run in the order t, then c (the same for every output). co must be a multiple of 16;
/// bias may be NULL.
void equicert_direct_conv_tiles(const float *padded, long positions, long per_sample, long out_width, long stride,
                                long padded_width, long padded_sample, long ci, long taps, const long *tap_offset,
                                const float *panels, long co, const float *bias, float *y);

/// 1 when this CPU runs the AVX-512 kernel (x86-64 with avx512f and fma), else 0.
int equicert_direct_conv_avx512_available(void);

/// The same computation as equicert_direct_conv_tiles with AVX-512F registers (a larger tile): same arguments,
/// same summation order per output, so bit-identical results. Only call it when
/// equicert_direct_conv_avx512_available() is 1.
void equicert_direct_conv_tiles_avx512(const float *padded, long positions, long per_sample, long out_width,
                                       long stride, long padded_width, long padded_sample, long ci, long taps,
                                       const long *tap_offset, const float *panels, long co, const float *bias,
                                       float *y);

#endif
