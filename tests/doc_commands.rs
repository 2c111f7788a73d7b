//! Every `cloud-report` command line of README.md and docs/*.md is one the
//! tool's parser accepts: the subcommand, each flag's name and each value
//! its parser reads (a number, a format). Each is run with `--help` added
//! at the end, which clap honours only once everything before it has
//! parsed, so nothing is served or converted; what `--help` skips (required
//! arguments, conflicts) is left to the tests of the tool itself.
//!
//! Found: in `sh` and `dockerfile` blocks, each `cloud-report ...` command
//! (also inside `$(...)`), `cargo run --features cli ... -- ...` and
//! `CMD ["cloud-report", ...]`; in the prose, each code span starting with
//! `cloud-report ` (a `[...]` in one is usage notation for what is
//! optional, and is read without its brackets), and the same commands as
//! in `sh` blocks within the other code spans.
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::Command;

/// A command line found, and where.
struct Found {
    place: String,
    args: Vec<String>,
}

#[test]
fn every_documented_command_line_parses() {
    // The repository's root, above this test crate.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = vec![root.join("README.md")];
    let mut guides: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    guides.sort();
    files.extend(guides);

    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(root).unwrap().display().to_string();
        found.extend(command_lines(&name, &text));
    }
    // The README's main job, the emulator's recipes and the CLI guide at
    // the least.
    assert!(
        found.len() >= 20,
        "only {} command lines found",
        found.len()
    );

    let mut failures = Vec::new();
    for command in &found {
        let output = Command::new(env!("CARGO_BIN_EXE_cloud-report-under-test"))
            .args(&command.args)
            .arg("--help")
            .output()
            .unwrap();
        if !output.status.success() {
            failures.push(format!(
                "{}: cloud-report {}: {}",
                command.place,
                command.args.join(" "),
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The command lines of one Markdown file.
fn command_lines(name: &str, text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut fence: Option<String> = None;
    let mut prose = String::new();
    let mut prose_start = 1;
    let mut logical = String::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let place = format!("{name}:{number}");
        if let Some(rest) = line.strip_prefix("```") {
            // An opening fence ends the prose before it; a closing one
            // starts the prose after it.
            if fence.take().is_none() {
                found.extend(code_spans(name, prose_start, &prose));
                prose.clear();
                fence = Some(rest.trim().to_owned());
            }
            prose_start = number + 1;
            continue;
        }
        match fence.as_deref() {
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
            Some("sh") => {
                // A line ending in a backslash goes on.
                if let Some(head) = line.strip_suffix('\\') {
                    logical.push_str(head);
                    continue;
                }
                logical.push_str(line);
                found.extend(shell_commands(&place, &logical));
                logical.clear();
            }
            Some("dockerfile") => found.extend(exec_form(&place, line)),
            Some(_) => {}
        }
    }
    found.extend(code_spans(name, prose_start, &prose));
    found
}

/// `cloud-report` commands in one shell line.
fn shell_commands(place: &str, line: &str) -> Vec<Found> {
    let line = line.trim();
    if line.starts_with("cargo run") {
        let Some((cargo, args)) = line.split_once(" -- ") else {
            return Vec::new();
        };
        // The tool's run: its feature, or its binary named.
        let cargo = words(cargo);
        let runs_the_tool = cargo.windows(2).any(|pair| match pair[0].as_str() {
            "--features" => pair[1].split([',', ' ']).any(|feature| feature == "cli"),
            "--bin" => pair[1] == "cloud-report",
            _ => false,
        });
        if !runs_the_tool {
            return Vec::new();
        }
        return vec![Found {
            place: place.to_owned(),
            args: words(args),
        }];
    }
    let mut found = Vec::new();
    for (at, _) in line.match_indices("cloud-report ") {
        let before = line[..at].trim_end();
        let at_command = before.is_empty()
            || before.ends_with("$(")
            || before.ends_with("&&")
            || before.ends_with(';')
            || before.ends_with('|');
        if at_command {
            found.push(Found {
                place: place.to_owned(),
                args: words(&line[at + "cloud-report ".len()..]),
            });
        }
    }
    found
}

/// A Dockerfile's `CMD ["cloud-report", ...]`.
fn exec_form(place: &str, line: &str) -> Option<Found> {
    let start = line.find("[\"cloud-report\"")?;
    let end = start + line[start..].find(']')?;
    let words: Vec<String> = line[start + 1..end]
        .split(',')
        .map(|word| word.trim().trim_matches('"').to_owned())
        .collect();
    Some(Found {
        place: place.to_owned(),
        args: words[1..].to_vec(),
    })
}

/// The code spans of prose (starting at line `first` of `name`) that hold a
/// `cloud-report` command.
fn code_spans(name: &str, first: usize, prose: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut line = first;
    for (index, span) in prose.split('`').enumerate() {
        let place = format!("{name}:{line}");
        line += span.matches('\n').count();
        // Odd pieces are inside backticks.
        if index % 2 == 0 {
            continue;
        }
        let span = span.replace('\n', " ");
        match span.strip_prefix("cloud-report ") {
            Some(args) => found.push(Found {
                place,
                args: words(&args.replace(['[', ']'], " ")),
            }),
            // A command of a span's own (`cargo run ...`), or within one
            // (`curl -H "... $(cloud-report token ...)"`).
            None => found.extend(shell_commands(&place, &span)),
        }
    }
    found
}

/// The words of a command, as the shell splits them, up to the end of the
/// command: an unquoted `&`, `|`, `;`, `<`, `>`, `)` or a comment.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    w.push(c);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        _ => w.push(c),
                    }
                }
            }
            '&' | '|' | ';' | '<' | '>' | ')' => break,
            '#' if word.is_none() => break,
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn words_end_with_the_command() {
    assert_eq!(
        words("serve --listen 127.0.0.1:0 --exec 'cargo test'   # a comment"),
        ["serve", "--listen", "127.0.0.1:0", "--exec", "cargo test"]
    );
    assert_eq!(
        words("env-init --listen 127.0.0.1:8080)\"   # export"),
        ["env-init", "--listen", "127.0.0.1:8080"]
    );
    assert_eq!(
        words("convert --from json < report.json > report.bin"),
        ["convert", "--from", "json"]
    );
    assert_eq!(
        words("serve --data-dir .emulator &   # keeps"),
        ["serve", "--data-dir", ".emulator"]
    );
}
