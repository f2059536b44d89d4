#!/usr/bin/env python3
"""Golden values for the Statistics module's tests (run once; CI only reads the JSON it writes).

Writes Tests/StatisticsTests/Fixtures/*.json with SciPy's values (and, for the normal distribution,
40-digit mpmath values as an independent high-precision reference, because SciPy's ndtr rounds x/sqrt(2)
and so carries a relative error of ~x^2 * 1e-16 in the far lower tail).

Usage:  python3 Scripts/gen-statistics-golden.py      (needs numpy, scipy, mpmath)
Every number is written with repr(), i.e. the shortest decimal that round-trips to the same double.
"""
import json
import os
import sys

import mpmath as mp
import numpy as np
import scipy
from scipy import special, stats

mp.mp.dps = 40
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "StatisticsTests", "Fixtures")


def f(x):
    """A JSON-safe float (no inf/nan in fixtures)."""
    x = float(x)
    assert np.isfinite(x), x
    return x


def write(name, payload):
    payload = {"generator": "Scripts/gen-statistics-golden.py",
               "scipy": scipy.__version__, "mpmath": mp.__version__, **payload}
    path = os.path.join(OUT, name)
    tmp = path + ".tmp"
    # One table row per line, so diffs of regenerated fixtures stay readable.
    parts = []
    for key, value in payload.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            rows = ",\n    ".join(json.dumps(r) for r in value)
            parts.append(f"  {json.dumps(key)}: [\n    {rows}\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    with open(tmp, "w") as fh:
        fh.write("{\n" + ",\n".join(parts) + "\n}\n")
    with open(tmp) as fh:
        assert json.load(fh) == payload
    os.replace(tmp, path)
    print(f"wrote {path}")


def normal():
    xs = sorted(set(
        [0.0, 1e-300, -1e-300, 1e-20, -1e-20, 1e-8, -1e-8, 0.1, -0.1, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5,
         1.959963984540054, -1.959963984540054, 2.5, -2.5, 3.0, -3.0, 5.0, -5.0, 7.5, -7.5, 8.3, 10.0,
         -10.0, -12.5, -15.0, -20.0, -25.0, -30.0, -35.0, -37.0, -37.5]
        + [float(v) for v in np.linspace(-9, 9, 73)]))
    cdf = []
    for x in xs:
        ref = mp.ncdf(mp.mpf(x))
        cdf.append([f(x), f(stats.norm.cdf(x)), f(ref)])
    ps = sorted(set(
        [1e-300, 1e-250, 1e-200, 1e-150, 1e-100, 1e-50, 1e-30, 1e-20, 1e-16, 1e-12, 1e-9, 1e-6, 1e-5,
         1e-4, 0.0005, 0.001, 0.01, 0.02, 0.02425, 0.025, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.45, 0.49,
         0.499, 0.4999999, 0.5 - 1e-10, 0.5 - 1e-15, 0.5 + 1e-15, 0.5 + 1e-10, 0.5000001, 0.501,
         0.51, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.975, 0.97575, 0.98, 0.99, 0.999, 0.9995, 0.999999,
         1 - 1e-9, 1 - 1e-12, 1 - 1e-15, 1 - 1e-16, float(np.nextafter(1.0, 0.0))]
        + [float(v) for v in np.linspace(0.001, 0.999, 61)]))
    ppf = []
    for p in ps:
        # mpmath: solve ncdf(x) = p exactly for the double p (40 digits).
        pm = mp.mpf(p)
        x0 = mp.mpf(stats.norm.ppf(p))
        ref = mp.findroot(lambda t: mp.ncdf(t) - pm, x0, tol=mp.mpf(10) ** -35) if p != 0.5 else mp.mpf(0)
        ppf.append([f(p), f(stats.norm.ppf(p)), f(ref)])
    write("normal.json", {"cdf": cdf, "ppf": ppf,
                          "columns": {"cdf": ["x", "scipy", "mpmath"], "ppf": ["p", "scipy", "mpmath"]}})


def beta():
    params = [(1.0, 1.0), (2.0, 3.0), (0.5, 0.5), (0.3, 7.2), (7.2, 0.3), (1e-3, 1.0), (1.0, 1e-3),
              (0.01, 0.02), (5.0, 1.0), (1.0, 5.0), (10.0, 10.0), (25.5, 3.25), (100.0, 250.0),
              (1234.5, 678.9), (1e4, 1e4), (9000.0, 1001.0), (7560.0, 841.0), (1e5, 3.0), (3.0, 1e5),
              (5e5, 5e5 + 1), (1e6, 1.0), (1e6, 1.5), (1e6, 10.0), (999990.0, 11.0), (1e6, 1e6),
              (0.2, 1e6), (50.0, 1e6), (8.0, 12.0), (9.999, 10.001)]
    inc = []
    for a, b in params:
        mean = a / (a + b)
        sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        xs = {0.5, 1e-3, 1e-10, 0.999, 1 - 1e-10, 0.1, 0.9, 0.3, 0.7}
        for k in [-8, -5, -3, -1, -0.25, 0, 0.25, 1, 3, 5, 8]:
            x = mean + k * sd
            if 0 < x < 1:
                xs.add(float(x))
        for x in sorted(xs):
            w = special.betainc(a, b, x)
            wc = special.betaincc(a, b, x)
            if w < 1e-300 and wc < 1e-300:
                continue
            inc.append([f(x), a, b, f(w), f(wc)])
    inv = []
    ps = [1e-300, 1e-100, 1e-20, 1e-9, 1e-6, 1e-3, 0.0005, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99,
          0.999, 1 - 1e-9]
    for a, b in params:
        for p in ps:
            x = special.betaincinv(a, b, p)
            if not (0 < x < 1) or x < 1e-300:
                continue
            # keep only rows where SciPy's inverse reproduces p (a few of its extreme rows do not)
            back = special.betainc(a, b, x)
            if abs(back - p) > 1e-8 * p:
                print(f"  skip betaincinv({a}, {b}, {p}) = {x}: betainc gives {back}", file=sys.stderr)
                continue
            inv.append([f(p), a, b, f(x)])
    write("beta.json", {"incomplete": inc, "inverse": inv,
                        "columns": {"incomplete": ["x", "a", "b", "betainc", "betaincc"],
                                    "inverse": ["p", "a", "b", "betaincinv"]}})


def clopper_pearson():
    rows = []
    alphas = [1e-3, 1e-6, 1e-9, 0.0005, 0.05]

    def lcb(na, n, alpha):
        if na == 0:
            return 0.0
        if na == n:
            return alpha ** (1.0 / n)
        return stats.beta.ppf(alpha, na, n - na + 1)

    cases = [(0, 100), (0, 10000), (100, 100), (10000, 10000), (10 ** 6, 10 ** 6), (0, 10 ** 6),
             (1, 1), (1, 2), (1, 100), (50, 100), (99, 100), (9000, 10000), (9999, 10000),
             (5001, 10000), (98765, 100000), (99999, 100000), (500000, 10 ** 6), (999999, 10 ** 6),
             (990000, 10 ** 6), (1, 10 ** 6), (400, 400), (350, 400), (0.84 * 9000, 0.84 * 10000),
             (0.97 * 9990, 0.97 * 10000), (0.5 * 3, 0.5 * 10), (0.3, 1.7), (7.25, 7.25),
             (0.981 * 100000, 0.981 * 100000), (123.456, 789.012)]
    for na, n in cases:
        for alpha in alphas:
            rows.append([float(na), float(n), alpha, f(lcb(na, n, alpha))])
    # Upper bounds: beta.isf(alpha, nA + 1, n - nA), 1 when nA = n.
    upper = []
    for na, n in [(0, 100), (1, 100), (50, 100), (99, 100), (9000, 10000), (0.84 * 9000, 0.84 * 10000),
                  (5, 10 ** 6)]:
        for alpha in alphas:
            if na == n:
                u = 1.0
            elif na == 0:
                u = -np.expm1(np.log(alpha) / n)
            else:
                u = stats.beta.isf(alpha, na + 1, n - na)
            upper.append([float(na), float(n), alpha, f(u)])
    write("clopper_pearson.json", {"lower": rows, "upper": upper,
                                   "columns": ["successes", "trials", "alpha", "bound"]})


def binomial():
    rows = []
    cases = [(0, 1, 0.5), (1, 1, 0.5), (0, 10, 0.5), (3, 10, 0.5), (5, 10, 0.5), (7, 10, 0.5),
             (10, 10, 0.5), (2, 20, 0.3), (9, 20, 0.3), (6, 20, 0.3), (60, 100, 0.5), (40, 100, 0.5),
             (41, 100, 0.5), (59, 100, 0.5), (100, 100, 0.5), (0, 100, 0.5), (1, 100, 0.01),
             (5, 100, 0.01), (0, 100, 0.01), (35, 100, 0.25), (10, 100, 0.25), (45, 100, 0.25),
             (510, 1000, 0.5), (530, 1000, 0.5), (470, 1000, 0.5), (5050, 10000, 0.5),
             (9990, 10000, 0.999), (9950, 10000, 0.999), (10000, 10000, 0.999),
             (500000, 10 ** 6, 0.5), (500999, 10 ** 6, 0.5), (501000, 10 ** 6, 0.5),
             (502500, 10 ** 6, 0.5), (497000, 10 ** 6, 0.5), (510000, 10 ** 6, 0.5),
             (520000, 10 ** 6, 0.5), (10 ** 6, 10 ** 6, 0.5), (0, 10 ** 6, 0.5), (1000, 10 ** 6, 0.001),
             (1100, 10 ** 6, 0.001), (900, 10 ** 6, 0.001), (333333, 10 ** 6, 1 / 3),
             (334567, 10 ** 6, 1 / 3), (600, 1000, 0.6), (55, 97, 0.5), (48, 97, 0.5), (7, 9, 0.5),
             (17, 30, 0.2), (3, 30, 0.2), (99, 100, 0.9), (81, 100, 0.9)]
    for k, n, p in cases:
        pv = stats.binomtest(k, n, p).pvalue
        rows.append([k, n, p, f(pv)])
    pmf = []
    for k, n, p in cases + [(123456, 10 ** 6, 0.125), (250, 10 ** 6, 0.5), (17, 10 ** 5, 1e-4)]:
        lp = stats.binom.logpmf(k, n, p)
        # SciPy's logpmf is off by up to ~3e-9 (absolute) at n = 1e6; mpmath gives the exact value.
        pm = mp.mpf(p)
        exact = mp.log(mp.binomial(n, k)) + k * mp.log(pm) + (n - k) * mp.log1p(-pm) if 0 < p < 1 else None
        pmf.append([k, n, p, f(lp), f(exact), f(stats.binom.cdf(k, n, p)), f(stats.binom.sf(k, n, p))])
    write("binomial.json", {"binomtest": rows, "pmf": pmf,
                            "columns": {"binomtest": ["k", "n", "p", "pvalue"],
                                        "pmf": ["k", "n", "p", "scipy logpmf", "mpmath logpmf", "cdf", "sf"]}})


def hypergeometric():
    """scipy.stats.hypergeom(M = population, n = marked, N = draws): cdf and logpmf, and the audit's exact upper
    confidence bound on the marked count (largest K with cdf(x; N, K, k) > alpha, by bisection on SciPy's cdf)."""
    cases = [(10000, 225, 400, 0), (10000, 225, 400, 3), (10000, 50, 400, 0), (10000, 9000, 400, 350),
             (10000, 300, 2000, 45), (10000, 300, 2000, 80), (10000, 0, 400, 0), (10000, 10000, 400, 400),
             (1000, 37, 100, 2), (1000, 500, 100, 50), (1000, 500, 100, 30), (50, 20, 10, 1), (50, 20, 10, 9),
             (100000, 1000, 5000, 30), (100000, 1000, 5000, 70), (20, 5, 20, 5), (10000, 2, 400, 1),
             (10000, 1500, 400, 10), (10000, 1500, 400, 80), (10000, 4000, 2000, 700)]
    cdf = []
    for n, m, k, x in cases:
        d = stats.hypergeom(n, m, k)
        cdf.append([n, m, k, x, f(d.cdf(x)), f(d.logpmf(x)) if d.pmf(x) > 0 else -1e308])

    def ucb(x, n, k, alpha):
        lo, hi = x, n - k + x
        if stats.hypergeom(n, hi, k).cdf(x) > alpha:
            return hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if stats.hypergeom(n, mid, k).cdf(x) > alpha:
                lo = mid
            else:
                hi = mid
        return lo

    bounds = []
    for n, k, x, alpha in [(10000, 400, 0, 0.0005), (10000, 400, 0, 0.000125), (10000, 400, 8, 0.0005),
                           (10000, 2000, 0, 0.000125), (10000, 2000, 40, 0.000125), (10000, 400, 400, 0.001),
                           (10000, 400, 200, 0.05), (1000, 100, 3, 0.01), (1000, 1000, 7, 0.01),
                           (100000, 5000, 12, 1e-6), (50, 10, 0, 0.1), (10000, 1, 0, 0.5), (10000, 400, 17, 1e-9)]:
        bounds.append([n, k, x, alpha, ucb(x, n, k, alpha)])
    write("hypergeometric.json", {"cdf": cdf, "upper_bound": bounds,
                                  "columns": {"cdf": ["population", "marked", "draws", "x", "cdf", "logpmf (-1e308: 0)"],
                                              "upper_bound": ["population", "draws", "x", "alpha", "bound"]}})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    normal()
    beta()
    clopper_pearson()
    binomial()
    hypergeometric()
