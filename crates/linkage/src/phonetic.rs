//! Kölner Phonetik (Hans Joachim Postel, 1969): a phonetic code for German names.
//!
//! Each letter gets a digit by the published table (context rules for C, D, T, P and X),
//! H gets none, repeated digits collapse to one and every `0` except a leading one is then
//! removed. Words of a name are coded one after another (a hyphen or space is a word
//! boundary, which matters for the rule on an initial C). Umlauts and ß are written out by
//! [`crate::normalise::fold`] first (ä→ae …), which gives the same code as the table's
//! "Ä, Ö, Ü = 0" and "ß = 8".

/// The Kölner Phonetik code of a name, e.g. `"Müller-Lüdenscheidt"` → `"65752682"`.
pub fn koelner_phonetik(name: &str) -> String {
    code_folded(&crate::normalise::fold(name))
}

/// The code of an already folded name (lower-case, words separated by spaces). Characters
/// other than `a`–`z` carry no code.
pub(crate) fn code_folded(folded: &str) -> String {
    let mut raw: Vec<u8> = Vec::with_capacity(folded.len() + 2);
    for word in folded.split(' ') {
        let letters = word.as_bytes();
        let mut prev: u8 = 0;
        for (i, &c) in letters.iter().enumerate() {
            let next = letters.get(i + 1).copied().unwrap_or(0);
            let initial = i == 0;
            match c {
                b'a' | b'e' | b'i' | b'j' | b'o' | b'u' | b'y' => raw.push(b'0'),
                b'b' => raw.push(b'1'),
                b'p' => raw.push(if next == b'h' { b'3' } else { b'1' }),
                b'd' | b't' => raw.push(if matches!(next, b'c' | b's' | b'z') { b'8' } else { b'2' }),
                b'f' | b'v' | b'w' => raw.push(b'3'),
                b'g' | b'k' | b'q' => raw.push(b'4'),
                b'c' => {
                    let hard = if initial {
                        matches!(next, b'a' | b'h' | b'k' | b'l' | b'o' | b'q' | b'r' | b'u' | b'x')
                    } else {
                        !matches!(prev, b's' | b'z') && matches!(next, b'a' | b'h' | b'k' | b'o' | b'q' | b'u' | b'x')
                    };
                    raw.push(if hard { b'4' } else { b'8' });
                }
                b'x' => {
                    if matches!(prev, b'c' | b'k' | b'q') {
                        raw.push(b'8');
                    } else {
                        raw.extend_from_slice(b"48");
                    }
                }
                b'l' => raw.push(b'5'),
                b'm' | b'n' => raw.push(b'6'),
                b'r' => raw.push(b'7'),
                b's' | b'z' => raw.push(b'8'),
                _ => {} // h, digits, other scripts: no code
            }
            prev = c;
        }
    }
    raw.dedup();
    let mut out = String::with_capacity(raw.len());
    for (i, d) in raw.iter().enumerate() {
        if *d != b'0' || i == 0 {
            out.push(char::from(*d));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::koelner_phonetik as k;

    #[test]
    fn published_examples() {
        // Wikipedia (de), "Kölner Phonetik"
        assert_eq!(k("Müller-Lüdenscheidt"), "65752682");
        assert_eq!(k("Wikipedia"), "3412");
        assert_eq!(k("Breschnew"), "17863");
    }

    #[test]
    fn spellings_that_sound_alike() {
        for name in ["Meier", "Mayer", "Maier", "Meyer", "Mayr"] {
            assert_eq!(k(name), "67", "{name}");
        }
        assert_eq!(k("Schmidt"), k("Schmitt"));
        assert_eq!(k("Möller"), k("Moeller"));
        assert_eq!(k("Christoph"), k("Kristof"));
        assert_eq!(k("Anna"), "06"); // a leading 0 stays
        assert_eq!(k("Max"), "648");
        assert_eq!(k("Lux"), k("Luchs"));
        assert_eq!(k("Hans"), "068");
    }

    #[test]
    fn initial_c() {
        assert_eq!(k("Carl"), "475");
        // umlauts are written out before coding, so "Cäsar" is coded as "Caesar"
        assert_eq!(k("Cäsar"), k("Caesar"));
        assert_eq!(k("Celina"), "856");
    }

    #[test]
    fn empty_and_foreign() {
        assert_eq!(k(""), "");
        assert_eq!(k("Ωμέγα"), "");
        assert_eq!(k("h"), "");
    }
}
