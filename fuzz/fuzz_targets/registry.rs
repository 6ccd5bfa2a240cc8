//! The Meldedaten CSV reader on arbitrary bytes: it never panics, reads every row or
//! reports it by a line number that exists in the file, in file order.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = oegd_programme::read_registry(data);
    // lines end at \r\n, \n or a lone \r, as for the csv crate
    let ends = data
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\r' || (**b == b'\n' && (*i == 0 || data.get(i - 1) != Some(&b'\r'))))
        .count();
    let lines = 1 + ends as u64;
    let mut last = 0;
    for row in &file.rows {
        assert!(row.line >= 2 && row.line <= lines, "row line {} outside 2..={lines}", row.line);
        assert!(row.line > last, "rows out of file order");
        last = row.line;
    }
    for error in &file.errors {
        assert!(error.line >= 1 && error.line <= lines, "error line {} outside 1..={lines}", error.line);
        assert!(!error.message.is_empty(), "error without a message");
    }
    if file.errors.iter().any(|e| e.line == 1) {
        assert!(file.rows.is_empty(), "rows read despite an unreadable header");
    }
});
