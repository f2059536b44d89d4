import Testing

@testable import Reports

// Golden values generated once with CPython 3 (`'{:.3}'.format(x)`, `str(datetime.timedelta(seconds=t))`,
// `str(datetime.timedelta(microseconds=us))`) and committed here.

@Test("'{:.3}'.format(x) matches CPython: rounding, exponent switch, trailing zeros, .0 on integers")
func radiusGoldenValues() {
    let golden: [(Double, String)] = [
        (0.0, "0.0"), (-0.0, "-0.0"), (0.2496, "0.25"), (1.23456, "1.23"), (0.000123, "0.000123"),
        (12.345, "12.3"), (1234.5, "1.23e+03"), (0.25, "0.25"), (0.5, "0.5"), (1.0, "1.0"), (10.0, "10.0"),
        (99.95, "1e+02"), (99.94, "99.9"), (100.0, "1e+02"), (123.0, "1.23e+02"), (0.0001, "0.0001"),
        (1e-05, "1e-05"), (0.00012345, "0.000123"), (0.125, "0.125"), (0.1235, "0.123"), (0.9995, "1.0"),
        (0.99949, "0.999"), (2.675, "2.67"), (1e-300, "1e-300"), (1.7976931348623157e+308, "1.8e+308"),
        (5e-324, "4.94e-324"), (3.14159, "3.14"), (0.1, "0.1"), (0.30000000000000004, "0.3"), (9.995, "9.99"),
        (9.9949, "9.99"), (1.5, "1.5"), (0.7071067811865476, "0.707"), (0.005, "0.005"), (0.0005, "0.0005"),
        (5e-05, "5e-05"), (1e+16, "1e+16"), (12.0, "12.0"), (120.0, "1.2e+02"), (0.0999999, "0.1"),
        (-2.5, "-2.5"), (-0.000123456, "-0.000123"), (.infinity, "inf"), (-.infinity, "-inf"), (.nan, "nan"),
    ]
    for (x, expected) in golden {
        #expect(PythonFormat.general(x, precision: 3) == expected, "x = \(x)")
    }
}

@Test("'{:.p}'.format(x) at p = 1 and p = 6 matches CPython")
func otherPrecisionsGoldenValues() {
    let golden: [(Double, Int, String)] = [
        (1.0, 1, "1e+00"), (1.0, 6, "1.0"), (0.5, 1, "0.5"), (0.5, 6, "0.5"),
        (123456.0, 1, "1e+05"), (123456.0, 6, "1.23456e+05"), (0.1234567, 1, "0.1"), (0.1234567, 6, "0.123457"),
        (1e-05, 1, "1e-05"), (1e-05, 6, "1e-05"), (9.5, 1, "1e+01"), (9.5, 6, "9.5"),
        (2.5, 1, "2e+00"), (2.5, 6, "2.5"), (0.0, 1, "0e+00"), (0.0, 6, "0.0"),
    ]
    for (x, p, expected) in golden {
        #expect(PythonFormat.general(x, precision: p) == expected, "x = \(x), p = \(p)")
    }
}

@Test("str(timedelta(seconds=t)) matches CPython, including half-to-even microsecond rounding and days")
func timeGoldenValues() throws {
    let golden: [(Double, String)] = [
        (0, "0:00:00"), (1, "0:00:01"), (1.5, "0:00:01.500000"), (0.25, "0:00:00.250000"),
        (1e-06, "0:00:00.000001"), (5e-07, "0:00:00"), (1.5e-06, "0:00:00.000002"), (2.5e-06, "0:00:00.000002"),
        (3.5e-06, "0:00:00.000004"), (7.0000005, "0:00:07"),
        (59.9999996, "0:01:00"), (3599.999999, "0:59:59.999999"), (3600, "1:00:00"), (3661.123456, "1:01:01.123456"),
        (86399.9999999, "1 day, 0:00:00"), (86400, "1 day, 0:00:00"), (90061.5, "1 day, 1:01:01.500000"),
        (172800.25, "2 days, 0:00:00.250000"), (1.234567, "0:00:01.234567"), (12.3456789, "0:00:12.345679"),
        (0.1, "0:00:00.100000"), (2.675, "0:00:02.675000"), (45.000001, "0:00:45.000001"),
    ]
    for (t, expected) in golden {
        let us = PythonFormat.microseconds(seconds: t)
        #expect(PythonFormat.timedelta(microseconds: us) == expected, "t = \(t)")
        #expect(PythonFormat.parseTimedelta(Substring(expected)) == us, "parse \(expected)")
    }
}

@Test("str(timedelta(microseconds=us)) for negative and sub-second values matches CPython")
func timedeltaMicrosecondsGolden() {
    let golden: [(Int64, String)] = [
        (-1, "-1 day, 23:59:59.999999"), (-86_400_000_001, "-2 days, 23:59:59.999999"),
        (-86_400_000_000, "-1 day, 0:00:00"), (123, "0:00:00.000123"),
    ]
    for (us, expected) in golden {
        #expect(PythonFormat.timedelta(microseconds: us) == expected)
        #expect(PythonFormat.parseTimedelta(Substring(expected)) == us)
    }
}

@Test("Malformed times are rejected")
func malformedTimes() {
    for text in [
        "", "1", "0:0:01", "0:00:1", "0:00:01.5", "0:00:01.1234567", "0:60:00", "0:00:60", "x:00:00",
        "1 days, 0:00:00", "2 day, 0:00:00", "1 day,0:00:00", "0 days, 0:00:00", "-0:00:01", "0:00:01.",
    ] {
        #expect(PythonFormat.parseTimedelta(Substring(text)) == nil, "'\(text)'")
    }
}
