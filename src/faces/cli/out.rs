//! Where the commands' text goes: stdout, through the one sanitiser
//! ([`crate::core::sanitize`]) unless it is JSON (serde escapes it
//! exactly) or vipdeck's own text (help, man page, completions, a theme's
//! colours). A closed pipe (`| head`) is not an error.

use std::io::Write;

use crate::core::sanitize::clean_lines;

fn write(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Text that may quote a peer, the cloud or a config file: cleaned, lines kept.
pub fn emit(text: &str) -> anyhow::Result<()> {
    write(&clean_lines(text))
}

/// JSON made by serde: every control is escaped already, and the values
/// must stay exact.
pub fn emit_json(text: &str) -> anyhow::Result<()> {
    write(text)
}

/// vipdeck's own text, which quotes nothing from outside: help, the man
/// page, shell completions, a built-in theme's colours.
pub fn emit_own(text: &str) -> anyhow::Result<()> {
    write(text)
}

/// A line on stderr that may quote a peer, the cloud or a file.
pub fn warn(text: &str) {
    eprintln!("{}", clean_lines(text));
}
