//! The on-call docs stay in step with the program: the quick card's key
//! tables are the dashboard's key list, and every `vipdeck` subcommand the
//! getting-started guide shows exists.

use std::path::PathBuf;
use std::process::Command;

use vipdeck::faces::tui::keys::help_rows;

fn doc(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name)
}

/// A markdown table of keys, as the quick card prints it.
fn table(keys: &[(&str, &str)]) -> String {
    let mut t = String::from("| key | does |\n|---|---|\n");
    for (k, what) in keys {
        t.push_str(&format!(
            "| {} | {} |\n",
            k.replace('|', "\\|"),
            what.replace('|', "\\|")
        ));
    }
    t
}

/// Replaces what is between the `begin`/`end` marker lines with `body`.
fn splice(text: &str, begin: &str, end: &str, body: &str) -> Option<String> {
    let b = text.find(begin)?;
    let after_begin = b + text[b..].find('\n')? + 1;
    let e = text[after_begin..].find(end)? + after_begin;
    Some(format!("{}{}{}", &text[..after_begin], body, &text[e..]))
}

#[test]
fn quick_card_keys_are_the_dashboards_keys() {
    let path = doc("quick-card.md");
    let text = std::fs::read_to_string(&path).expect("docs/quick-card.md");
    let want = splice(
        &text,
        "<!-- keys:begin",
        "<!-- keys:end",
        &table(&help_rows(vipdeck::faces::tui::app::KEYS)),
    )
    .and_then(|t| {
        splice(
            &t,
            "<!-- demo-keys:begin",
            "<!-- demo-keys:end",
            &table(&help_rows(vipdeck::faces::tui::app::DEMO_KEYS)),
        )
    })
    .and_then(|t| {
        splice(
            &t,
            "<!-- failover-keys:begin",
            "<!-- failover-keys:end",
            &table(&help_rows(vipdeck::faces::tui::app::FAILOVER_KEYS)),
        )
    })
    .and_then(|t| {
        splice(
            &t,
            "<!-- prompt-keys:begin",
            "<!-- prompt-keys:end",
            &table(&help_rows(vipdeck::faces::tui::app::PROMPT_KEYS)),
        )
    })
    .expect("the quick card has all four marker pairs");
    if want != text && std::env::var_os("VIPDECK_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).expect("rewrite docs/quick-card.md");
        return;
    }
    assert!(
        want == text,
        "docs/quick-card.md's key tables differ from src/faces/tui/app.rs KEYS/DEMO_KEYS/FAILOVER_KEYS; \
         run VIPDECK_UPDATE_DOCS=1 cargo test --test cli onboard_docs"
    );
    // Every key is there, so the check above is not vacuous.
    for (k, _) in help_rows(vipdeck::faces::tui::app::KEYS)
        .into_iter()
        .chain(help_rows(vipdeck::faces::tui::app::DEMO_KEYS))
        .chain(help_rows(vipdeck::faces::tui::app::FAILOVER_KEYS))
        .chain(help_rows(vipdeck::faces::tui::app::PROMPT_KEYS))
    {
        assert!(text.contains(&format!("| {k} |")), "{k}");
    }
}

#[test]
fn quick_card_verdicts_match_the_exit_codes() {
    use vipdeck::core::model::Verdict;
    let text = std::fs::read_to_string(doc("quick-card.md")).expect("quick card");
    for v in [
        Verdict::Healthy,
        Verdict::Degraded,
        Verdict::VipDrift,
        Verdict::SplitBrain,
        Verdict::NoMaster,
        Verdict::Unknown,
    ] {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", v.as_str())))
            .unwrap_or_else(|| panic!("no row for {}", v.as_str()));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[3], v.exit_code().to_string(), "{row}");
    }
}

/// The code in a markdown text: fenced blocks' lines and inline spans.
fn code_snippets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push(line.to_string());
        } else {
            out.extend(line.split('`').skip(1).step_by(2).map(str::to_string));
        }
    }
    out
}

/// The subcommand each `vipdeck ...` in `code` runs (global options skipped).
fn subcommands(code: &str) -> Vec<String> {
    let words: Vec<&str> = code.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if !(*w == "vipdeck" || w.ends_with("/vipdeck")) {
            continue;
        }
        let mut j = i + 1;
        while let Some(arg) = words.get(j) {
            if ["--config", "--theme"].contains(arg) {
                j += 2;
            } else if arg.starts_with('-') {
                j += 1;
            } else {
                break;
            }
        }
        if let Some(sub) = words.get(j) {
            if sub.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                out.push(sub.to_string());
            }
        }
    }
    out
}

/// Every `vipdeck SUBCOMMAND` the guides show is one the binary knows.
#[test]
fn guides_only_show_real_subcommands() {
    let help = Command::new(env!("CARGO_BIN_EXE_vipdeck"))
        .arg("--help")
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let known: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(known.contains(&"init".to_string()), "{known:?}");
    assert_eq!(
        subcommands("sudo -E vipdeck --config x.toml status --json"),
        ["status"]
    );
    for name in ["first-five-minutes.md", "quick-card.md"] {
        let text = std::fs::read_to_string(doc(name)).expect("doc");
        let subs: Vec<String> = code_snippets(&text)
            .iter()
            .flat_map(|c| subcommands(c))
            .collect();
        for sub in &subs {
            assert!(
                known.contains(sub),
                "{name}: `vipdeck {sub}` is not a subcommand"
            );
        }
        assert!(subs.len() >= 5, "{name}: only {subs:?}");
    }
}
