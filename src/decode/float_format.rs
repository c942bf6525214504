//! C's `%g` for floats, as `mysqlbinlog` prints FLOAT (`%-20g`) and DOUBLE (`%-.20g`).
//!
//! Owns nothing but that one conversion: Rust's formatting has no `%g`, and matching the
//! reference tool digit for digit is what lets the decode output be diffed against it.

/// Append `v` formatted like C's `%.{precision}g`, left-justified to `width` characters.
pub fn write_g(out: &mut Vec<u8>, v: f64, precision: usize, width: usize) {
    let start = out.len();
    if v.is_nan() {
        out.extend_from_slice(b"nan");
    } else if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
    } else {
        let p = precision.max(1);
        // Scientific form with p significant digits gives the exponent C uses to choose.
        let sci = format!("{:.*e}", p - 1, v);
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let x: i32 = exp.parse().unwrap_or(0);
        if x < -4 || x >= p as i32 {
            out.extend_from_slice(strip_zeros(mantissa).as_bytes());
            push_exponent(out, x);
        } else {
            let decimals = (p as i32 - 1 - x).max(0) as usize;
            let fixed = format!("{:.*}", decimals, v);
            out.extend_from_slice(strip_zeros(&fixed).as_bytes());
        }
    }
    let written = out.len() - start;
    if written < width {
        out.resize(start + width, b' ');
    }
}

/// Append `v` formatted like C's `%.{precision}e` (`1.50000e+00`), as `mysqlbinlog` prints
/// each VECTOR element.
pub fn write_e(out: &mut Vec<u8>, v: f64, precision: usize) {
    if !v.is_finite() {
        return write_g(out, v, precision, 0);
    }
    let sci = format!("{:.*e}", precision, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    out.extend_from_slice(mantissa.as_bytes());
    push_exponent(out, x);
}

/// C's exponent: `e`, a sign, at least two digits.
fn push_exponent(out: &mut Vec<u8>, x: i32) {
    out.push(b'e');
    out.push(if x < 0 { b'-' } else { b'+' });
    let ax = x.unsigned_abs();
    if ax < 10 {
        out.push(b'0');
    }
    out.extend_from_slice(itoa::Buffer::new().format(ax).as_bytes());
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(v: f64, p: usize, w: usize) -> String {
        let mut o = Vec::new();
        write_g(&mut o, v, p, w);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn matches_c_printf() {
        // Expected strings are what glibc printf("%g"/"%-20g"/"%.20g") prints.
        assert_eq!(g(1.5, 6, 0), "1.5");
        assert_eq!(g(1.5, 6, 20), "1.5                 ");
        assert_eq!(g(0.0001, 6, 0), "0.0001");
        assert_eq!(g(0.00001, 6, 0), "1e-05");
        assert_eq!(g(123456.0, 6, 0), "123456");
        assert_eq!(g(1234567.0, 6, 0), "1.23457e+06");
        assert_eq!(g(3.4e38, 6, 0), "3.4e+38");
        assert_eq!(g(-0.0, 6, 0), "-0");
        assert_eq!(g(0.0, 6, 0), "0");
        assert_eq!(g(std::f64::consts::PI, 20, 0), "3.141592653589793116");
        assert_eq!(g(0.1, 20, 0), "0.10000000000000000555");
        assert_eq!(g(-1e300, 20, 0), "-1.0000000000000000525e+300");
        assert_eq!(g(1e100, 20, 0), "1.0000000000000000159e+100");
        assert_eq!(g(100.0, 20, 0), "100");
    }

    #[test]
    fn e_format() {
        let mut o = Vec::new();
        write_e(&mut o, 1.5, 5);
        o.push(b',');
        write_e(&mut o, -2.0, 5);
        o.push(b',');
        write_e(&mut o, 3.25e-12, 5);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "1.50000e+00,-2.00000e+00,3.25000e-12"
        );
    }
}
