/*
 * insn_driver.c - runs one kernel case `repeats` times, for dynamic instruction counts under
 * qemu-aarch64 (benchmarks/aarch64_insn_count.py): the count of a run with 2 repeats minus the
 * count with 1 is the instructions of exactly one kernel call (start-up, set-up and exit cancel).
 *
 *   insn_driver CASE REPEATS      CASE: conv1x1 | conv3x3s2 | dw3x3 | dw5x5s2 | sigmoid
 *   insn_driver dw K S C H W      a depthwise K x K / stride S conv (pad K / 2) of C channels of H x W:
 *                                 prints the FNV-1a hash of its output's bytes, to compare builds
 *                                 bit for bit (tests/test_aarch64_neon.py)
 *
 * The shapes are those of the most expensive kernel paths of the corpus profile
 * (benchmarks/results/profile), at a 14x14 / 28x28 feature-map scale.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

static float *filled(size_t n, unsigned seed)
{
    float *p = malloc(n * sizeof(float));
    size_t i;
    if (p == NULL)
        exit(3);
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

/* FNV-1a over the bytes of n floats. */
static unsigned long long fnv1a(const float *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    unsigned long long h = 14695981039346656037ull;
    size_t i;
    for (i = 0; i < n * sizeof(float); i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int run_conv_hw(size_t c_in, size_t h, size_t wd, size_t c_out, size_t k, size_t stride, size_t group,
                       int repeats, int hash)
{
    kern_conv_geom g;
    float *x, *w, *b, *y, *scratch;
    size_t scratch_bytes;
    int r, status = 0;

    memset(&g, 0, sizeof(g));
    g.batch = 1;
    g.c_in = c_in;
    g.h_in = h;
    g.w_in = wd;
    g.c_out = c_out;
    g.kernel_h = g.kernel_w = k;
    g.stride_h = g.stride_w = stride;
    g.dilation_h = g.dilation_w = 1;
    g.pad_top = g.pad_left = g.pad_bottom = g.pad_right = k / 2;
    g.group = group;
    g.h_out = (h + 2 * (k / 2) - k) / stride + 1;
    g.w_out = (wd + 2 * (k / 2) - k) / stride + 1;
    x = filled(c_in * h * wd, 1);
    w = filled(c_out * (c_in / group) * k * k, 2);
    b = filled(c_out, 3);
    y = filled(c_out * g.h_out * g.w_out, 4);
    scratch_bytes = kern_scratch_bytes_conv(&g);
    scratch = malloc(scratch_bytes ? scratch_bytes : 1);
    if (scratch == NULL)
        return 3;
    for (r = 0; r < repeats && status == 0; r++)
        status = kern_conv(&g, x, w, b, y, scratch, scratch_bytes);
    if (hash)
        printf("%016llx\n", fnv1a(y, c_out * g.h_out * g.w_out));
    else
        printf("%g\n", (double)y[c_out * g.h_out * g.w_out / 2]);
    return status;
}

static int run_conv(size_t c_in, size_t hw, size_t c_out, size_t k, size_t stride, size_t group, int repeats)
{
    return run_conv_hw(c_in, hw, hw, c_out, k, stride, group, repeats, 0);
}

static int run_sigmoid(size_t n, int repeats)
{
    kern_unary_attr attr = {KERN_SIGMOID, 0.0f, 0.0f};
    float *x = filled(n, 5), *y = filled(n, 6);
    int r, status = 0;

    for (r = 0; r < repeats && status == 0; r++)
        status = kern_unary(&attr, x, y, n);
    printf("%g\n", (double)y[n / 2]);
    return status;
}

int main(int argc, char **argv)
{
    int repeats;

    if (argc == 7 && strcmp(argv[1], "dw") == 0) {
        size_t k = (size_t)atoi(argv[2]), s = (size_t)atoi(argv[3]), c = (size_t)atoi(argv[4]);
        size_t h = (size_t)atoi(argv[5]), wd = (size_t)atoi(argv[6]);
        if (k < 1 || s < 1 || c < 1 || h < k || wd < k)
            return 2;
        return run_conv_hw(c, h, wd, c, k, s, c, 1, 1);
    }
    if (argc != 3 || (repeats = atoi(argv[2])) < 1) {
        fprintf(stderr, "usage: insn_driver conv1x1|conv3x3s2|dw3x3|dw5x5s2|sigmoid REPEATS | dw K S C H W\n");
        return 2;
    }
    if (strcmp(argv[1], "conv1x1") == 0)
        return run_conv(64, 14, 64, 1, 1, 1, repeats);
    if (strcmp(argv[1], "conv3x3s2") == 0)
        return run_conv(16, 28, 32, 3, 2, 1, repeats);
    if (strcmp(argv[1], "dw3x3") == 0)
        return run_conv(96, 14, 96, 3, 1, 96, repeats);
    if (strcmp(argv[1], "dw5x5s2") == 0)
        return run_conv(96, 28, 96, 5, 2, 96, repeats);
    if (strcmp(argv[1], "sigmoid") == 0)
        return run_sigmoid(96 * 14 * 14, repeats);
    fprintf(stderr, "unknown case %s\n", argv[1]);
    return 2;
}
