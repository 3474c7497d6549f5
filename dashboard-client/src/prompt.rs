//! The guided flow's questions: a numbered choice and a free answer, on any reader and writer
//! (a terminal in use, byte buffers in the tests). No terminal library: one line per answer.

use std::io::{self, BufRead, Write};

/// Asks `question` with numbered `options`; Enter takes `default` (an index into `options`).
/// Asks again on an answer that is not one of the numbers; the end of the input takes the
/// default.
pub fn choose(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    question: &str,
    options: &[String],
    default: usize,
) -> io::Result<usize> {
    writeln!(output, "{question}")?;
    for (i, option) in options.iter().enumerate() {
        let mark = if i == default { '*' } else { ' ' };
        writeln!(output, " {mark}{}) {option}", i + 1)?;
    }
    loop {
        write!(output, "[{}] > ", default + 1)?;
        output.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            writeln!(output)?;
            return Ok(default);
        }
        let answer = line.trim();
        if answer.is_empty() {
            return Ok(default);
        }
        match answer.parse::<usize>() {
            Ok(n) if (1..=options.len()).contains(&n) => return Ok(n - 1),
            _ => writeln!(output, "1-{}?", options.len())?,
        }
    }
}

/// Asks `question`; returns the trimmed answer, `None` when it is empty (or the input ended).
pub fn ask(input: &mut dyn BufRead, output: &mut dyn Write, question: &str) -> io::Result<Option<String>> {
    write!(output, "{question} > ")?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    let answer = line.trim();
    Ok((!answer.is_empty()).then(|| answer.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Vec<String> {
        vec!["box".to_owned(), "mobile".to_owned(), "other".to_owned()]
    }

    #[test]
    fn a_number_picks_enter_takes_the_default_and_nonsense_asks_again() {
        // (typed, chosen index)
        let table: [(&str, usize); 5] = [("2\n", 1), ("\n", 0), ("9\nx\n3\n", 2), ("", 0), (" 1 \n", 0)];
        for (typed, expected) in table {
            let mut out = Vec::new();
            let chosen = choose(&mut typed.as_bytes(), &mut out, "Which?", &options(), 0).expect("io");
            assert_eq!(chosen, expected, "typed {typed:?}");
            let shown = String::from_utf8_lossy(&out);
            assert!(
                shown.starts_with("Which?\n *1) box\n  2) mobile\n  3) other\n[1] > "),
                "{shown}"
            );
        }
        let mut out = Vec::new();
        choose(&mut "9\n2\n".as_bytes(), &mut out, "Which?", &options(), 0).expect("io");
        assert!(String::from_utf8_lossy(&out).contains("1-3?"));
    }

    #[test]
    fn a_free_answer_is_trimmed_and_empty_is_none() {
        let mut out = Vec::new();
        let answer = ask(&mut "  fti/123 \n".as_bytes(), &mut out, "Line?").expect("io");
        assert_eq!(answer.as_deref(), Some("fti/123"));
        assert_eq!(String::from_utf8_lossy(&out), "Line? > ");
        assert_eq!(ask(&mut "\n".as_bytes(), &mut Vec::new(), "Line?").expect("io"), None);
        assert_eq!(ask(&mut "".as_bytes(), &mut Vec::new(), "Line?").expect("io"), None);
    }
}
