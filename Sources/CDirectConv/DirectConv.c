// The register micro-kernel of Conv2D.forwardDirect: a tile of 6 output positions × 16 output channels held in
// 12 AVX registers; per (tap, input channel) two weight vectors are loaded and each position's input value is
// broadcast and multiplied in (12 FMAs). Compiled for AVX2 + FMA by a function attribute and chosen at run time,
// so a generic x86-64 build still gets it on CPUs that have the instructions, and other CPUs fall back to GEMM.
#include "CDirectConv.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

int equicert_direct_conv_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#define ROWS 6

__attribute__((target("avx2,fma")))
void equicert_direct_conv_tiles(const float *padded, long positions, long per_sample, long out_width, long stride,
                                long padded_width, long padded_sample, long ci, long taps, const long *tap_offset,
                                const float *panels, long co, const float *bias, float *y) {
    const long panel_stride = taps * ci * 16;
    for (long p0 = 0; p0 < positions; p0 += ROWS) {
        const long rows = positions - p0 < ROWS ? positions - p0 : ROWS;
        long base[ROWS];
        for (long r = 0; r < ROWS; r++) {  // a short tile repeats its last position (computed, not stored)
            const long p = p0 + (r < rows ? r : rows - 1);
            const long sample = p / per_sample, q = p % per_sample;
            base[r] = sample * padded_sample + ((q / out_width) * stride * padded_width + (q % out_width) * stride) * ci;
        }
        for (long n0 = 0; n0 < co; n0 += 16) {
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
            if (bias) { b0 = _mm256_loadu_ps(bias + n0); b1 = _mm256_loadu_ps(bias + n0 + 8); }
            __m256 a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1;
            __m256 a30 = b0, a31 = b1, a40 = b0, a41 = b1, a50 = b0, a51 = b1;
            const float *w = panels + (n0 / 16) * panel_stride;
            for (long t = 0; t < taps; t++) {
                const long off = tap_offset[t];
                const float *x0 = padded + base[0] + off, *x1 = padded + base[1] + off, *x2 = padded + base[2] + off;
                const float *x3 = padded + base[3] + off, *x4 = padded + base[4] + off, *x5 = padded + base[5] + off;
                for (long c = 0; c < ci; c++, w += 16) {
                    const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
                    __m256 v;
                    v = _mm256_broadcast_ss(x0 + c); a00 = _mm256_fmadd_ps(v, w0, a00); a01 = _mm256_fmadd_ps(v, w1, a01);
                    v = _mm256_broadcast_ss(x1 + c); a10 = _mm256_fmadd_ps(v, w0, a10); a11 = _mm256_fmadd_ps(v, w1, a11);
                    v = _mm256_broadcast_ss(x2 + c); a20 = _mm256_fmadd_ps(v, w0, a20); a21 = _mm256_fmadd_ps(v, w1, a21);
                    v = _mm256_broadcast_ss(x3 + c); a30 = _mm256_fmadd_ps(v, w0, a30); a31 = _mm256_fmadd_ps(v, w1, a31);
                    v = _mm256_broadcast_ss(x4 + c); a40 = _mm256_fmadd_ps(v, w0, a40); a41 = _mm256_fmadd_ps(v, w1, a41);
                    v = _mm256_broadcast_ss(x5 + c); a50 = _mm256_fmadd_ps(v, w0, a50); a51 = _mm256_fmadd_ps(v, w1, a51);
                }
            }
            float *out = y + p0 * co + n0;
            _mm256_storeu_ps(out, a00); _mm256_storeu_ps(out + 8, a01);
            if (rows > 1) { _mm256_storeu_ps(out + co, a10); _mm256_storeu_ps(out + co + 8, a11); }
            if (rows > 2) { _mm256_storeu_ps(out + 2 * co, a20); _mm256_storeu_ps(out + 2 * co + 8, a21); }
            if (rows > 3) { _mm256_storeu_ps(out + 3 * co, a30); _mm256_storeu_ps(out + 3 * co + 8, a31); }
            if (rows > 4) { _mm256_storeu_ps(out + 4 * co, a40); _mm256_storeu_ps(out + 4 * co + 8, a41); }
            if (rows > 5) { _mm256_storeu_ps(out + 5 * co, a50); _mm256_storeu_ps(out + 5 * co + 8, a51); }
        }
    }
}

#else

int equicert_direct_conv_available(void) { return 0; }

void equicert_direct_conv_tiles(const float *padded, long positions, long per_sample, long out_width, long stride,
                                long padded_width, long padded_sample, long ci, long taps, const long *tap_offset,
                                const float *panels, long co, const float *bias, float *y) {
    (void)padded; (void)positions; (void)per_sample; (void)out_width; (void)stride; (void)padded_width;
    (void)padded_sample; (void)ci; (void)taps; (void)tap_offset; (void)panels; (void)co; (void)bias; (void)y;
    __builtin_trap();  // never called: equicert_direct_conv_available() is 0
}

#endif
