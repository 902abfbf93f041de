// SPDX-License-Identifier: GPL-2.0-only
//! Tokens of one script line: C call syntax with memparse-style numbers (`32K`, `0x1000`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// One token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A name, possibly dotted (`memblock.reserved.cnt`, or `.base` after `]`).
    Ident(String),
    Num(i128),
    /// A string literal (`"/proc/buddyinfo"`), without its quotes.
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Semi,
    Assign,
    Plus,
    Minus,
    Star,
    Pipe,
    Tilde,
    Amp,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Tok::Ident(s) => return f.write_str(s),
            Tok::Num(n) => return write!(f, "{n}"),
            Tok::Str(s) => return write!(f, "\"{s}\""),
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Assign => "=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Pipe => "|",
            Tok::Tilde => "~",
            Tok::Amp => "&",
        };
        f.write_str(s)
    }
}

/// A token and the byte range it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// lib/cmdline.c: memparse, on the text of one literal: a number (`0x` hex or decimal) and an
/// optional K/M/G/T/P/E suffix.
fn number(s: &str) -> Result<i128, String> {
    let bad = || format!("bad number `{s}`");
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    let n_digits = digits
        .bytes()
        .take_while(|c| (*c as char).is_digit(radix))
        .count();
    if n_digits == 0 {
        return Err(bad());
    }
    let v = u64::from_str_radix(&digits[..n_digits], radix)
        .map_err(|_| format!("number `{s}` does not fit in 64 bits"))?;
    let shift = match &digits[n_digits..] {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        "P" | "p" => 50,
        "E" | "e" => 60,
        _ => return Err(bad()),
    };
    let v = (v as i128) << shift;
    if v > u64::MAX as i128 {
        return Err(format!("number `{s}` does not fit in 64 bits"));
    }
    Ok(v)
}

/// Split one line (comments already removed) into tokens.
pub fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = if c == b'"' {
            let close = src[i + 1..]
                .find('"')
                .ok_or_else(|| String::from("unterminated string"))?;
            let s = String::from(&src[i + 1..i + 1 + close]);
            i += close + 2;
            Tok::Str(s)
        } else if c.is_ascii_digit() {
            while i < b.len() && is_ident_char(b[i]) && b[i] != b'.' {
                i += 1;
            }
            Tok::Num(number(&src[start..i])?)
        } else if c.is_ascii_alphabetic()
            || c == b'_'
            || (c == b'.' && b.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic()))
        {
            i += 1;
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            Tok::Ident(String::from(&src[start..i]))
        } else {
            i += 1;
            match c {
                b'(' => Tok::LParen,
                b')' => Tok::RParen,
                b'[' => Tok::LBracket,
                b']' => Tok::RBracket,
                b',' => Tok::Comma,
                b';' => Tok::Semi,
                b'=' => Tok::Assign,
                b'+' => Tok::Plus,
                b'-' => Tok::Minus,
                b'*' => Tok::Star,
                b'|' => Tok::Pipe,
                b'~' => Tok::Tilde,
                b'&' => Tok::Amp,
                _ => {
                    let ch = src[start..].chars().next().unwrap_or('?');
                    return Err(format!("unexpected character `{ch}`"));
                }
            }
        };
        out.push(Token { tok, start, end: i });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memparse_suffixes() {
        assert_eq!(number("32K").unwrap(), 32768);
        assert_eq!(number("0x1E").unwrap(), 30);
        assert_eq!(number("1G").unwrap(), 1 << 30);
        assert_eq!(number("0x10M").unwrap(), 16 << 20);
        assert!(number("12Q").is_err());
        assert!(number("0x").is_err());
        assert!(number("16E").is_err());
    }

    #[test]
    fn tokens_keep_dotted_names() {
        let t = tokenize("ASSERT_EQ(memblock.reserved.regions[0].base, 0x10);").unwrap();
        assert_eq!(t[2].tok, Tok::Ident("memblock.reserved.regions".into()));
        assert_eq!(t[6].tok, Tok::Ident(".base".into()));
        assert!(tokenize("a $ b").is_err());
    }
}
