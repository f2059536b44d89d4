// The register micro-kernels of Conv2D.forwardDirect, chosen at run time by a CPU check, each compiled for its
// instruction set by a function attribute (so a generic x86-64 build still gets them on CPUs that have the
// instructions; other CPUs fall back to GEMM):
//  - AVX2 + FMA: a tile of 6 output positions × 16 output channels held in 12 ymm registers; per (tap, input
//    channel) two weight vectors are loaded and each position's input value is broadcast and multiplied in
//    (12 FMAs).
//  - AVX-512F: 28 of the 32 zmm registers hold a tile of 14 positions × 2 panels of 16 channels (one zmm per panel
//    and position); a Co that is an odd number of panels ends with a 14 × 1-panel tile.
// Both kernels compute every output as acc = bias (or 0), then acc = fma(x, w, acc) over taps t, then input
// channels c, in that order, one lane per output channel: the same single-rounding operations in the same order,
// so the two give bit-identical results (tested), whatever the tile.
#include "CDirectConv.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <immintrin.h>

int equicert_direct_conv_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

int equicert_direct_conv_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
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

// ---- AVX-512F ----

#define AVX512_TARGET __attribute__((target("avx512f,fma")))
#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 32")
#endif

// Start of output position p's input window in the padded chunk (tap 0, channel 0).
static inline long window_base(long p, long per_sample, long out_width, long stride, long padded_width,
                               long padded_sample, long ci) {
    const long sample = p / per_sample, q = p % per_sample;
    return sample * padded_sample + ((q / out_width) * stride * padded_width + (q % out_width) * stride) * ci;
}

// One tile of R positions (window starts base[0..R), the first `rows` stored) × P panels of 16 output channels
// starting at channel n0. R and P are constants, so the loops unroll and acc lives in R·P zmm registers.
#define DEFINE_TILE512(R, P)                                                                                           \
    static inline __attribute__((always_inline)) AVX512_TARGET void tile512_##R##x##P(                                 \
        const float *padded, const long *base, long rows, long ci, long taps, const long *tap_offset,                  \
        const float *w, long panel_stride, const float *bias, long n0, long co, float *out) {                          \
        __m512 acc[R][P];                                                                                              \
        UNROLL for (int j = 0; j < P; j++) {                                                                           \
            const __m512 b = bias ? _mm512_loadu_ps(bias + n0 + 16 * j) : _mm512_setzero_ps();                         \
            UNROLL for (int r = 0; r < R; r++) acc[r][j] = b;                                                          \
        }                                                                                                              \
        for (long t = 0; t < taps; t++) {                                                                              \
            const float *x[R];                                                                                         \
            UNROLL for (int r = 0; r < R; r++) x[r] = padded + base[r] + tap_offset[t];                                \
            const float *wt = w + t * ci * 16;                                                                         \
            for (long c = 0; c < ci; c++, wt += 16) {                                                                  \
                __m512 wv[P];                                                                                          \
                UNROLL for (int j = 0; j < P; j++) wv[j] = _mm512_loadu_ps(wt + j * panel_stride);                     \
                UNROLL for (int r = 0; r < R; r++) {                                                                   \
                    const __m512 v = _mm512_set1_ps(x[r][c]);                                                          \
                    UNROLL for (int j = 0; j < P; j++) acc[r][j] = _mm512_fmadd_ps(v, wv[j], acc[r][j]);               \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
        UNROLL for (int r = 0; r < R; r++)                                                                             \
            if (r < rows)                                                                                              \
                UNROLL for (int j = 0; j < P; j++) _mm512_storeu_ps(out + r * co + 16 * j, acc[r][j]);                 \
    }

// 14 positions × 2 panels: 28 accumulators + 2 weight vectors + 1 broadcast = 31 of the 32 zmm registers; per
// (tap, input channel) 2 weight loads and 14 broadcasts feed 28 FMAs. Measured against 7 × 4, 12 × 2, 6 × 4 and
// 8 × 3 panels at the DEQ-S shapes (BENCHMARKS.md, issue 23): the fastest or tied at every shape; with 2 panels it
// fills its tile for Co = 32 (conv2) as well as Co = 64, and 14 is DEQ-S's row width.
#define ROWS512 14
DEFINE_TILE512(14, 1)
DEFINE_TILE512(14, 2)

// All tiles of a chunk: positions in steps of 14, channels in steps of 2 panels, then a last single panel.
AVX512_TARGET
void equicert_direct_conv_tiles_avx512(const float *padded, long positions, long per_sample, long out_width,
                                       long stride, long padded_width, long padded_sample, long ci, long taps,
                                       const long *tap_offset, const float *panels, long co, const float *bias,
                                       float *y) {
    const long panel_stride = taps * ci * 16;
    for (long p0 = 0; p0 < positions; p0 += ROWS512) {
        const long rows = positions - p0 < ROWS512 ? positions - p0 : ROWS512;
        long base[ROWS512];
        for (long r = 0; r < ROWS512; r++)  // a short tile repeats its last position (computed, not stored)
            base[r] = window_base(p0 + (r < rows ? r : rows - 1), per_sample, out_width, stride, padded_width,
                                  padded_sample, ci);
        long n0 = 0;
        for (; n0 + 32 <= co; n0 += 32)
            tile512_14x2(padded, base, rows, ci, taps, tap_offset, panels + (n0 / 16) * panel_stride, panel_stride,
                         bias, n0, co, y + p0 * co + n0);
        for (; n0 < co; n0 += 16)
            tile512_14x1(padded, base, rows, ci, taps, tap_offset, panels + (n0 / 16) * panel_stride, panel_stride,
                         bias, n0, co, y + p0 * co + n0);
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

int equicert_direct_conv_avx512_available(void) { return 0; }

void equicert_direct_conv_tiles_avx512(const float *padded, long positions, long per_sample, long out_width,
                                       long stride, long padded_width, long padded_sample, long ci, long taps,
                                       const long *tap_offset, const float *panels, long co, const float *bias,
                                       float *y) {
    equicert_direct_conv_tiles(padded, positions, per_sample, out_width, stride, padded_width, padded_sample, ci,
                               taps, tap_offset, panels, co, bias, y);  // traps: never called either
}

#endif
