//! Downloads: CSV as German Excel opens it (UTF-8 with BOM, `;` between fields, CRLF), and a
//! small ZIP (stored, not compressed) for a certificate with its key.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A CSV table, built row by row.
pub struct Csv {
    out: String,
}

impl Csv {
    pub fn new(header: &[&str]) -> Csv {
        let mut csv = Csv { out: String::from("\u{feff}") };
        csv.row(header.iter().map(|h| (*h).to_owned()));
        csv
    }

    /// Appends a row. Fields are quoted when needed; a field that a spreadsheet would take for
    /// a formula is prefixed with `'` (CSV injection).
    pub fn row<I: IntoIterator<Item = String>>(&mut self, fields: I) {
        let mut first = true;
        for f in fields {
            if !first {
                self.out.push(';');
            }
            first = false;
            let f = if f.starts_with(['=', '+', '@', '\t', '\r']) || (f.starts_with('-') && f.parse::<f64>().is_err()) {
                format!("'{f}")
            } else {
                f
            };
            if f.contains([';', '"', '\n', '\r']) {
                self.out.push('"');
                self.out.push_str(&f.replace('"', "\"\""));
                self.out.push('"');
            } else {
                self.out.push_str(&f);
            }
        }
        self.out.push_str("\r\n");
    }

    /// The download, named `file_name`.
    pub fn into_response(self, file_name: &str) -> Response {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")),
            ],
            self.out,
        )
            .into_response()
    }
}

/// A ZIP archive of small files, stored without compression (PKWARE APPNOTE 4.3: local file
/// headers, central directory, end record; no ZIP64).
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    fn u16le(out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32le(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in files {
        let crc = crc32fast::hash(data);
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
        let offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
        // local file header: version 2.0, UTF-8 names (bit 11), stored, 1980-01-01 00:00
        u32le(&mut out, 0x0403_4b50);
        for v in [20, 0x0800, 0, 0, 0x21] {
            u16le(&mut out, v);
        }
        for v in [crc, size, size] {
            u32le(&mut out, v);
        }
        u16le(&mut out, name_len);
        u16le(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        // its central directory entry
        u32le(&mut central, 0x0201_4b50);
        for v in [0x031e, 20, 0x0800, 0, 0, 0x21] {
            u16le(&mut central, v);
        }
        for v in [crc, size, size] {
            u32le(&mut central, v);
        }
        for v in [name_len, 0, 0, 0, 0] {
            u16le(&mut central, v);
        }
        // external attributes: a regular file, rw for its owner only (the key)
        u32le(&mut central, 0o100_600 << 16);
        u32le(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).unwrap_or(u32::MAX);
    let cd_size = u32::try_from(central.len()).unwrap_or(u32::MAX);
    let count = u16::try_from(files.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    for v in [0, 0, count, count] {
        u16le(&mut out, v);
    }
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_bom_semicolons_quoting_and_no_formulas() {
        let mut csv = Csv::new(&["Name", "Zahl"]);
        csv.row(["Müller; Jörg".to_owned(), "-3".to_owned()]);
        csv.row(["=HYPERLINK(\"x\")".to_owned(), "-x".to_owned()]);
        assert_eq!(csv.out, "\u{feff}Name;Zahl\r\n\"Müller; Jörg\";-3\r\n\"'=HYPERLINK(\"\"x\"\")\";'-x\r\n");
    }

    #[test]
    fn zip_is_readable_by_unzip() {
        let archive = zip(&[("client.crt", b"CERT"), ("client.key", b"KEY")]);
        let dir = std::env::temp_dir().join(format!("oegd-zip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.zip");
        std::fs::write(&file, &archive).unwrap();
        // `unzip -t` checks the CRCs; skip where unzip is not installed
        if let Ok(out) = std::process::Command::new("unzip").arg("-t").arg(&file).output() {
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        }
        assert!(archive.starts_with(b"PK\x03\x04"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
