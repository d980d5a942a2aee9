//! The draft as a TOML document, built with `toml_edit`: every value is a
//! TOML string (or boolean) made by the serializer, never text spliced
//! into a line, and every comment goes through [`comment`], which cannot
//! end its line. Nothing a peer or the cloud says — an instance name, an
//! ENI id, an error message — can become a key, a table or a second
//! cluster, and nothing printed can move the operator's cursor.

use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, Value};

use super::Draft;
use crate::core::config::DEFAULT_ENDPOINT;

/// A comment: `# ` and `text` on one line. Every control that could end
/// the line or reach the terminal (CR, LF, NUL, ESC, every C0 and C1
/// control, DEL, bidi controls: [`crate::core::sanitize::clean`]) and the
/// Unicode line and paragraph separators become visible placeholders.
pub(crate) fn comment(text: &str) -> String {
    let one_line: String = crate::core::sanitize::clean(text)
        .chars()
        .map(|c| match c {
            '\u{2028}' | '\u{2029}' => '\u{fffd}',
            c => c,
        })
        .collect();
    format!("# {one_line}")
}

/// Whether a value's character may be written as it is: it neither ends a
/// line nor means anything to a terminal.
fn plain(c: char) -> bool {
    c != '\u{2028}' && c != '\u{2029}' && crate::core::sanitize::is_safe(c.encode_utf8(&mut [0; 4]))
}

/// A TOML string of exactly `s`. The serializer's own form when every
/// character is plain; otherwise a basic string with each other character
/// as a `\u` escape, read back by the TOML parser (which checks that it is
/// one string equal to `s`), so the file prints safely on a terminal too.
pub(crate) fn string(s: &str) -> Value {
    if s.chars().all(plain) {
        return Value::from(s);
    }
    let mut lit = String::with_capacity(s.len() + 8);
    lit.push('"');
    for c in s.chars() {
        match c {
            '"' => lit.push_str("\\\""),
            '\\' => lit.push_str("\\\\"),
            c if plain(c) => lit.push(c),
            c if (c as u32) <= 0xffff => lit.push_str(&format!("\\u{:04X}", c as u32)),
            c => lit.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    lit.push('"');
    match lit.parse::<Value>() {
        Ok(mut v) if v.as_str() == Some(s) => {
            v.decor_mut().clear();
            v
        }
        // Not reached: the escapes above are TOML's. The exact value wins.
        _ => Value::from(s),
    }
}

/// Fills one table: keys in order, each with the comment lines before it
/// (`pending`) and the comment after its value.
struct Filler<'a> {
    table: &'a mut Table,
    indent: &'static str,
    /// Comment lines waiting for the next key, table or the end.
    pending: &'a mut String,
}

impl Filler<'_> {
    /// A comment line of its own.
    fn line(&mut self, text: &str) {
        self.pending.push_str(self.indent);
        self.pending.push_str(&comment(text));
        self.pending.push('\n');
    }

    /// `key = value   # from`.
    fn set(&mut self, key: &str, mut value: Value, from: &str) {
        if !from.is_empty() {
            value
                .decor_mut()
                .set_suffix(format!("   {}", comment(from)));
        }
        self.table.insert(key, Item::Value(value));
        if let Some(mut k) = self.table.key_mut(key) {
            k.leaf_decor_mut().set_prefix(format!(
                "{}{}",
                std::mem::take(self.pending),
                self.indent
            ));
        }
    }
}

/// A table header's decor: the waiting comment lines, a blank line, the
/// indent.
fn header(table: &mut Table, pending: &mut String, indent: &str) {
    table
        .decor_mut()
        .set_prefix(format!("{}\n{indent}", std::mem::take(pending)));
}

/// The commented config. Every value says where it came from.
pub(crate) fn render(d: &Draft) -> String {
    let mut doc = DocumentMut::new();
    let mut pending = String::new();
    let mut top = Filler {
        table: doc.as_table_mut(),
        indent: "",
        pending: &mut pending,
    };
    top.line(&format!(
        "vipdeck config made by `vipdeck init` from {}",
        d.source
    ));
    for l in [
        "Check it with `vipdeck config check`, then run `vipdeck status` or `vipdeck`.",
        "Reference: docs/configuration.md. Cloud credentials are never written here:",
        "vipdeck reads them from the environment (TENCENTCLOUD_SECRET_ID and its key),",
        "~/.tencentcloud/credentials, a tccli profile or the CVM role.",
        "Each value's comment says where it came from; `guessed:` marks a guess and why.",
    ] {
        top.line(l);
    }
    for n in &d.notes {
        top.line(&format!("NOTE: {n}"));
    }
    doc.decor_mut().set_prefix(std::mem::take(&mut pending));

    let mut cloud = Table::new();
    header(&mut cloud, &mut pending, "");
    let mut f = Filler {
        table: &mut cloud,
        indent: "",
        pending: &mut pending,
    };
    f.set("region", string(&d.region.value), &d.region.from);
    match &d.endpoint {
        Some(e) if e != DEFAULT_ENDPOINT => f.set("endpoint", string(e), "from --endpoint"),
        _ => f.line(&format!("endpoint = {}", string(DEFAULT_ENDPOINT))),
    }
    doc.insert("cloud", Item::Table(cloud));

    if let Some(p) = &d.ssh_config {
        let mut ssh = Table::new();
        header(&mut ssh, &mut pending, "");
        Filler {
            table: &mut ssh,
            indent: "",
            pending: &mut pending,
        }
        .set(
            "config_file",
            string(&p.display().to_string()),
            "from --ssh-config",
        );
        doc.insert("ssh", Item::Table(ssh));
    }

    let mut clusters = ArrayOfTables::new();
    for c in &d.clusters {
        let mut t = Table::new();
        header(&mut t, &mut pending, "");
        let mut f = Filler {
            table: &mut t,
            indent: "",
            pending: &mut pending,
        };
        for n in &c.notes {
            f.line(&format!("NOTE: {n}"));
        }
        f.set(
            "name",
            string(&c.name),
            &format!("vrrp_instance {}", c.instance),
        );
        f.set("mode", string(&c.mode.value.to_string()), &c.mode.from);
        f.set("vip", string(&c.vip.value), &c.vip.from);
        if let Some(h) = &c.havip_id {
            f.set("havip_id", string(&h.value), &h.from);
        }
        let mut peers = ArrayOfTables::new();
        for p in &c.peers {
            let mut pt = Table::new();
            header(&mut pt, &mut pending, "  ");
            let mut f = Filler {
                table: &mut pt,
                indent: "  ",
                pending: &mut pending,
            };
            f.set("name", string(&p.name), "");
            if p.local {
                f.set("local", Value::from(true), "from --local: this machine");
            } else if p.ssh.value.is_empty() {
                // Left commented: the file does not load until it is set.
                f.line(&format!(
                    "ssh = \"user@host\"   # {} (or local = true)",
                    p.ssh.from
                ));
            } else {
                f.set("ssh", string(&p.ssh.value), &p.ssh.from);
            }
            match &p.network_interface_id {
                Some(e) => f.set("network_interface_id", string(&e.value), &e.from),
                None => f.line(
                    "network_interface_id = \"eni-...\"   # unknown: needed in eni mode; \
                     the cloud binding is matched to a peer by ENI, else by instance_id",
                ),
            }
            match (&p.instance_id, &p.network_interface_id) {
                (Some(i), _) => f.set("instance_id", string(&i.value), &i.from),
                (None, Some(_)) => f.line("instance_id = \"ins-...\""),
                (None, None) => f.line(
                    "instance_id = \"ins-...\"   # unknown: with neither id the binding \
                     matches no peer and the cluster shows vip_drift",
                ),
            }
            f.set("interface", string(&p.interface.value), &p.interface.from);
            f.set(
                "state_file",
                string(&p.state_file.value),
                &p.state_file.from,
            );
            f.set("log_file", string(&p.log_file.value), &p.log_file.from);
            f.set(
                "keepalived_conf",
                string(&p.keepalived_conf.value),
                &p.keepalived_conf.from,
            );
            match &p.daemon_log.value {
                Some(file) => f.set("daemon_log", string(file), &p.daemon_log.from),
                None => f.line(&format!(
                    "daemon_log = \"/var/log/messages\"   # {}",
                    p.daemon_log.from
                )),
            }
            f.line("start_cmd = \"systemctl start keepalived\"");
            f.line("stop_cmd = \"systemctl stop keepalived\"");
            peers.push(pt);
        }
        t.insert("peers", Item::ArrayOfTables(peers));
        clusters.push(t);
    }
    if !clusters.is_empty() {
        doc.insert("clusters", Item::ArrayOfTables(clusters));
    }
    doc.set_trailing(pending);
    doc.to_string()
}
