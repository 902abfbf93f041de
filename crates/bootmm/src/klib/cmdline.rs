//! lib/cmdline.c and kernel/params.c: numbers with size suffixes, and the kernel command
//! line split into `param=value` words.
//!
//! The kernel parses its command line in place, writing NULs into the buffer and handing
//! `char *` tails to `early_param` handlers. bootmm parses borrowed `&str`s and returns the
//! unparsed rest alongside each value, so the same "pointer moved past the number" checks
//! can be made. Malformed input is reported as a value, never a panic.

use alloc::vec::Vec;

/// Why a number could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No digits where a number was expected (the kernel would leave the pointer unmoved).
    NoDigits,
    /// The number, with its suffix, does not fit in 64 bits (the kernel would wrap).
    Overflow,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::NoDigits => f.write_str("expected a number"),
            ParseError::Overflow => f.write_str("the number does not fit in 64 bits"),
        }
    }
}

/// lib/kstrtox.c: `_parse_integer_fixup_radix` + `simple_strtoull(s, &end, 0)`.
///
/// Base 0: "0x"/"0X" selects hex (only when a hex digit follows), a leading "0" octal,
/// otherwise decimal. Overflow wraps as the kernel's unchecked accumulation does.
/// Returns the value and the unparsed rest; with no digits the value is 0 and the rest
/// is the whole input (like the kernel, which leaves `end` at `s`).
pub fn simple_strtoull(s: &str, base: u32) -> (u64, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    let mut base = base;
    if base == 0 {
        if b.first() == Some(&b'0') {
            if matches!(b.get(1), Some(b'x') | Some(b'X'))
                && b.get(2).is_some_and(|c| c.is_ascii_hexdigit())
            {
                base = 16;
                i = 2;
            } else {
                base = 8;
            }
        } else {
            base = 10;
        }
    } else if base == 16
        && b.first() == Some(&b'0')
        && matches!(b.get(1), Some(b'x') | Some(b'X'))
        && b.get(2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        i = 2;
    }
    let start = i;
    let mut v: u64 = 0;
    while let Some(&c) = b.get(i) {
        let d = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'a'..=b'f' => (c - b'a' + 10) as u32,
            b'A'..=b'F' => (c - b'A' + 10) as u32,
            _ => break,
        };
        if d >= base {
            break;
        }
        v = v.wrapping_mul(base as u64).wrapping_add(d as u64);
        i += 1;
    }
    if i == start {
        // "0x" without hex digits was already excluded above; a lone "0" in octal
        // base consumed nothing here but is itself a digit.
        if base == 8 && start == 0 && b.first() == Some(&b'0') {
            return (0, &s[1..]);
        }
        return (0, s);
    }
    (v, &s[i..])
}

/// lib/cmdline.c: `memparse` — a number (base 0) optionally followed by K, M, G, T, P or E
/// (either case), each multiplying by 1024 more. Returns the value and the rest.
/// With no number at all the value is 0 and the rest is the whole input, exactly as the
/// kernel leaves `*retptr == ptr`; callers that care check [`memparse_checked`].
pub fn memparse(s: &str) -> (u64, &str) {
    let (mut v, rest) = simple_strtoull(s, 0);
    if rest.len() == s.len() {
        return (0, s);
    }
    let shift = match rest.as_bytes().first() {
        Some(b'E') | Some(b'e') => 60,
        Some(b'P') | Some(b'p') => 50,
        Some(b'T') | Some(b't') => 40,
        Some(b'G') | Some(b'g') => 30,
        Some(b'M') | Some(b'm') => 20,
        Some(b'K') | Some(b'k') => 10,
        _ => return (v, rest),
    };
    v = v.wrapping_shl(shift);
    (v, &rest[1..])
}

/// [`memparse`] for values a user types: "no number here" and a value that does not fit in
/// 64 bits are errors instead of a silent 0 or a wrapped value.
///
/// # Errors
/// [`ParseError::NoDigits`], [`ParseError::Overflow`].
pub fn memparse_checked(s: &str) -> Result<(u64, &str), ParseError> {
    let (v, rest) = memparse(s);
    if rest.len() == s.len() {
        return Err(ParseError::NoDigits);
    }
    // The same digits and suffix again, in 128 bits.
    let (digits, base) = match s.get(..2) {
        Some("0x") | Some("0X") if s.as_bytes().get(2).is_some_and(|c| c.is_ascii_hexdigit()) => {
            (&s[2..], 16)
        }
        _ if s.starts_with('0') => (s, 8),
        _ => (s, 10),
    };
    let mut wide: u128 = 0;
    for c in digits.chars() {
        match c.to_digit(base) {
            Some(d) => {
                wide = wide * u128::from(base) + u128::from(d);
                if wide > u128::from(u64::MAX) {
                    return Err(ParseError::Overflow);
                }
            }
            None => break,
        }
    }
    // The suffix memparse took, if any: what lies between the digits and `rest`.
    let (_, after_digits) = simple_strtoull(s, 0);
    let shift = if after_digits.len() == rest.len() {
        0
    } else {
        match after_digits.as_bytes()[0].to_ascii_uppercase() {
            b'K' => 10,
            b'M' => 20,
            b'G' => 30,
            b'T' => 40,
            b'P' => 50,
            _ => 60,
        }
    };
    if (wide << shift) > u128::from(u64::MAX) {
        return Err(ParseError::Overflow);
    }
    Ok((v, rest))
}

/// What `get_option` found (its return value 0..3 in lib/cmdline.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetOption {
    /// 0: no integer at the start.
    None,
    /// 1: an integer, then the end of the string (or a space).
    Last,
    /// 2: an integer followed by a comma: more follow.
    Comma,
    /// 3: an integer followed by a hyphen: a range.
    Hyphen,
}

/// lib/cmdline.c: `get_option` — parse one integer (base 0, optionally signed) from the front
/// of `s`. Returns the value, what followed it, and the rest after the separator.
pub fn get_option(s: &str) -> (i64, GetOption, &str) {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (v, rest) = simple_strtoull(body, 0);
    if rest.len() == body.len() {
        return (0, GetOption::None, s);
    }
    let v = if neg {
        (v as i64).wrapping_neg()
    } else {
        v as i64
    };
    match rest.as_bytes().first() {
        Some(b',') => (v, GetOption::Comma, &rest[1..]),
        Some(b'-') => (v, GetOption::Hyphen, &rest[1..]),
        _ => (v, GetOption::Last, rest),
    }
}

/// One `param=value` word of the command line (`next_arg` in kernel/params.c).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg<'a> {
    /// The parameter name (quotes removed).
    pub param: &'a str,
    /// The value after '=', quotes removed; `None` when there was no '='.
    pub val: Option<&'a str>,
}

fn strip_quotes(s: &str) -> &str {
    let s = s.strip_prefix('"').unwrap_or(s);
    s.strip_suffix('"').unwrap_or(s)
}

/// kernel/params.c: `next_arg` — split one word off `args` (already stripped of leading
/// spaces). A double quote toggles quoting so spaces inside quotes stay in the word; the
/// kernel then drops one leading quote of the word (or of the value, for `param="a b"`)
/// and a trailing quote. Returns the word and the rest with leading spaces skipped.
pub fn next_arg(args: &str) -> (Arg<'_>, &str) {
    let b = args.as_bytes();
    let mut in_quote = false;
    let mut equals: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() && !in_quote {
            break;
        }
        if equals.is_none() && c == b'=' {
            equals = Some(i);
        }
        if c == b'"' {
            in_quote = !in_quote;
        }
        i += 1;
    }
    let word = &args[..i];
    let rest = args[i..].trim_start_matches(|c: char| c.is_ascii_whitespace());
    let arg = match equals {
        None => Arg {
            param: strip_quotes(word),
            val: None,
        },
        Some(eq) => {
            // The kernel strips a leading quote from the whole word (param side) and, if
            // the value starts with a quote, that one instead; then a trailing quote.
            let param = word[..eq].strip_prefix('"').unwrap_or(&word[..eq]);
            let val = &word[eq + 1..];
            Arg {
                param,
                val: Some(strip_quotes(val)),
            }
        }
    };
    (arg, rest)
}

/// Split a whole command line into its words, in order (`parse_args` without handlers).
/// Stops at a bare `--` as the kernel does (what follows goes to init).
pub fn split_args(cmdline: &str) -> Vec<Arg<'_>> {
    let mut out = Vec::new();
    let mut rest = cmdline.trim_start_matches(|c: char| c.is_ascii_whitespace());
    while !rest.is_empty() {
        let (arg, r) = next_arg(rest);
        if arg.param == "--" && arg.val.is_none() {
            break;
        }
        out.push(arg);
        rest = r;
    }
    out
}

/// Every value given to early parameter `name`, in command-line order, the way
/// `parse_early_param` calls its handler once per occurrence. `name=` with no value gives
/// `Some("")`; a bare `name` gives `None`. Dashes and underscores in names are equivalent
/// (`parameq`).
pub fn early_param_values<'a>(cmdline: &'a str, name: &str) -> Vec<Option<&'a str>> {
    split_args(cmdline)
        .into_iter()
        .filter(|a| parameq(a.param, name))
        .map(|a| a.val)
        .collect()
}

/// kernel/params.c: `parameq` — names equal with '-' and '_' treated alike.
pub fn parameq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            let n = |c: u8| if c == b'-' { b'_' } else { c };
            n(x) == n(y)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memparse_checked_refuses_what_does_not_fit() {
        assert_eq!(memparse_checked("15E"), Ok((15 << 60, "")));
        assert_eq!(memparse_checked("16E"), Err(ParseError::Overflow));
        assert_eq!(
            memparse_checked("99999999999999999999"),
            Err(ParseError::Overflow)
        );
        assert_eq!(memparse_checked("0xffffffffffffffff"), Ok((u64::MAX, "")));
        assert_eq!(
            memparse_checked("0x10000000000000000"),
            Err(ParseError::Overflow)
        );
        assert_eq!(memparse_checked("0xE"), Ok((14, "")));
        assert_eq!(memparse_checked("0x1P"), Ok((1 << 50, "")));
        assert_eq!(
            memparse_checked("017777777777777777777777"),
            Err(ParseError::Overflow)
        );
        assert_eq!(memparse_checked("4G@"), Ok((4 << 30, "@")));
        assert_eq!(memparse_checked("x"), Err(ParseError::NoDigits));
        // The kernel's own memparse wraps, as the C does.
        assert_eq!(memparse("16E"), (0, ""));
    }

    #[test]
    fn memparse_suffixes_and_bases() {
        assert_eq!(memparse("4G"), (4 << 30, ""));
        assert_eq!(memparse("512m"), (512 << 20, ""));
        assert_eq!(memparse("0x1000K@x"), (0x1000 << 10, "@x"));
        assert_eq!(memparse("010"), (8, ""));
        assert_eq!(memparse("0"), (0, ""));
        assert_eq!(memparse("1T"), (1 << 40, ""));
        assert_eq!(memparse("2P"), (2 << 50, ""));
        assert_eq!(memparse("3E"), (3 << 60, ""));
        assert_eq!(memparse("64K$0x18690000"), (64 << 10, "$0x18690000"));
        assert_eq!(memparse("nopentium"), (0, "nopentium"));
        assert!(memparse_checked("xyz").is_err());
        // "0x" without a hex digit: the 0 is octal zero and "x" is left.
        assert_eq!(memparse("0xg"), (0, "xg"));
    }

    #[test]
    fn get_option_kinds() {
        assert_eq!(get_option("5,6"), (5, GetOption::Comma, "6"));
        assert_eq!(get_option("0x10-20"), (16, GetOption::Hyphen, "20"));
        assert_eq!(get_option("-3"), (-3, GetOption::Last, ""));
        assert_eq!(get_option("abc").1, GetOption::None);
    }

    #[test]
    fn next_arg_quotes() {
        let v = split_args("  root=/dev/sda1 quiet  foo=\"a b\" \"bar=c d\" mem=4G -- init args");
        assert_eq!(v.len(), 5);
        assert_eq!(
            v[0],
            Arg {
                param: "root",
                val: Some("/dev/sda1")
            }
        );
        assert_eq!(
            v[1],
            Arg {
                param: "quiet",
                val: None
            }
        );
        assert_eq!(
            v[2],
            Arg {
                param: "foo",
                val: Some("a b")
            }
        );
        assert_eq!(
            v[3],
            Arg {
                param: "bar",
                val: Some("c d")
            }
        );
        assert_eq!(
            v[4],
            Arg {
                param: "mem",
                val: Some("4G")
            }
        );
    }

    #[test]
    fn early_param_values_in_order() {
        let c = "memmap=1G$4G mem=8G memmap=exactmap memblock=debug memmap";
        assert_eq!(
            early_param_values(c, "memmap"),
            vec![Some("1G$4G"), Some("exactmap"), None]
        );
        assert_eq!(early_param_values(c, "mem"), vec![Some("8G")]);
        assert!(parameq("page_alloc.shuffle", "page_alloc.shuffle"));
        assert!(parameq("a-b", "a_b"));
    }
}
