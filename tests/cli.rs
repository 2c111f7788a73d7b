//! The `cloud-report` binary, run as a user runs it.
#![cfg(feature = "cli")]

use crate::support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// An empty directory of this test run's own, named for `what`.
fn fresh_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cloud-report-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A command line's arguments, as a shell splits one without quotes.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn cloud_report(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloud-report-under-test"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may exit (usage errors) before it reads its input.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

const REPORT: &str = "google.api.servicecontrol.v1.ReportRequest";

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// What a run that failed (exit status 1, as every error exits) wrote to
/// stderr.
fn failed(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    stderr(output)
}

/// [`failed`], whose stderr says each of `fragments`.
fn fails_saying(output: &Output, fragments: &[&str]) -> String {
    let err = failed(output);
    for fragment in fragments {
        assert!(err.contains(fragment), "{fragment:?} not in {err}");
    }
    err
}

#[test]
fn converts_json_to_binary_and_back() {
    let example = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/report-request.json"
    ))
    .unwrap();
    let binary = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "json", "--to", "binary",
        ],
        &example,
    );
    assert!(binary.status.success(), "{}", stderr(&binary));
    let json = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "binary", "--to", "json", "--pretty",
        ],
        &binary.stdout,
    );
    assert!(json.status.success(), "{}", stderr(&json));
    assert_eq!(json.stdout, example);
    let again = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "binary", "--to", "binary",
        ],
        &binary.stdout,
    );
    assert_eq!(again.stdout, binary.stdout);
}

/// Binary to binary keeps the fields the crate's protos do not know, at
/// every level, byte for byte; JSON has no place for them and leaves them
/// out, as the reference does.
#[test]
fn binary_to_binary_keeps_unknown_fields() {
    use cloud_report_proto::google::api::servicecontrol::v1::ReportRequest;
    use cloud_report_proto::json;
    use cloud_report_proto::wire::{UnknownField, UnknownValue};
    use prost::Message;

    let example = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/report-request.json"
    ))
    .unwrap();
    let known: ReportRequest = json::from_slice(&example).unwrap();
    let mut request = known.clone();
    let field = |number, value| UnknownField { number, value };
    request
        .unknown_fields
        .push(field(
            9000,
            UnknownValue::LengthDelimited(b"from a newer client"),
        ))
        .unwrap();
    let operation = &mut request.operations[0];
    operation
        .unknown_fields
        .push(field(77, UnknownValue::Varint(u64::MAX)))
        .unwrap();
    operation.metric_value_sets[0]
        .unknown_fields
        .push(field(5, UnknownValue::Fixed32(7)))
        .unwrap();
    let input = request.encode_to_vec();

    let again = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "binary", "--to", "binary",
        ],
        &input,
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(again.stdout, input);
    assert_eq!(
        ReportRequest::decode(again.stdout.as_slice()).unwrap(),
        request
    );

    let text = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "binary", "--to", "json", "--pretty",
        ],
        &input,
    );
    assert!(text.status.success(), "{}", stderr(&text));
    assert_eq!(text.stdout, example);
    assert_ne!(request, known);
}

#[test]
fn compact_json_ends_in_a_newline() {
    let out = cloud_report(
        &words("convert --type google.rpc.Status --from json --to json"),
        br#"{"code": "5", "message": null}"#,
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, b"{\"code\":5}\n");
}

#[test]
fn invalid_json_fails_with_one_line_naming_the_path() {
    let out = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "json", "--to", "binary",
        ],
        br#"{"operations": [{"endTime": "2014-13-01T00:00:00Z"}]}"#,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("cloud-report: operations[0].endTime: "),
        "{err}"
    );
}

#[test]
fn invalid_binary_fails_naming_the_offset_and_field() {
    // operations (field 2) claims 5 bytes where 3 follow.
    let out = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "binary", "--to", "json",
        ],
        &[0x0a, 0x01, b's', 0x12, 0x05, 0x0a, 0x01, b'x'],
    );
    let err = failed(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    // Where the encoding breaks: the length prefix at byte 4.
    assert!(
        err.contains("at byte 4 (field 2: a length of 5 bytes where 3 remain)"),
        "{err}"
    );
    assert!(err.contains("ReportRequest.operations"), "{err}");
}

#[test]
fn unknown_fields_fail_unless_ignored() {
    let input = br#"{"serviceName": "s", "next": 1}"#;
    let strict = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "json", "--to", "json",
        ],
        input,
    );
    assert!(failed(&strict).contains("unknown field \"next\""));
    let lenient = cloud_report(
        &[
            &words("convert --type")[..],
            &[REPORT],
            &words("--from json --to json --ignore-unknown-fields"),
        ]
        .concat(),
        input,
    );
    assert!(lenient.status.success());
    assert_eq!(lenient.stdout, b"{\"serviceName\":\"s\"}\n");
}

#[test]
fn oversized_input_is_refused() {
    let out = cloud_report(
        &[
            &words("convert --type")[..],
            &[REPORT],
            &words("--from json --to json --max-input-bytes 10"),
        ]
        .concat(),
        br#"{"serviceName": "a fairly long name"}"#,
    );
    assert!(failed(&out).contains("larger than --max-input-bytes"));
}

#[test]
fn unknown_types_and_bad_usage_fail() {
    let out = cloud_report(
        &[
            "convert", "--type", "no.Such", "--from", "json", "--to", "json",
        ],
        b"{}",
    );
    assert!(failed(&out).contains("unknown message type \"no.Such\""));
    let usage = cloud_report(
        &[
            "convert", "--type", REPORT, "--from", "yaml", "--to", "json",
        ],
        b"{}",
    );
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn types_lists_every_message() {
    let out = cloud_report(&["types"], b"");
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).unwrap();
    for name in [
        REPORT,
        "google.cloud.apigee.v1.DeploymentChangeReport",
        "google.cloud.audit.AuditLog",
        "google.rpc.Status",
    ] {
        assert!(list.lines().any(|l| l == name), "{name}");
    }
    let mut sorted: Vec<&str> = list.lines().collect();
    sorted.sort_unstable();
    assert_eq!(sorted, list.lines().collect::<Vec<_>>());
}

#[test]
fn short_type_names_are_accepted_or_answered_with_suggestions() {
    let out = cloud_report(
        &words("convert --type ReportRequest --from json --to json"),
        b"{\"serviceName\": \"a\"}",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"{\"serviceName\":\"a\"}\n");
    let out = cloud_report(
        &words("convert --type reportreq --from json --to json"),
        b"{}",
    );
    fails_saying(
        &out,
        &["did you mean google.api.servicecontrol.v1.ReportRequest"],
    );
}

#[test]
fn a_closed_pipe_ends_the_listing_quietly() {
    use std::process::{Command, Stdio};
    // A pipe whose reader is gone before the first write, as after
    // `head -1` has read its line: every write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_cloud-report-under-test"))
        .arg("types")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn serve_listens_on_a_host_name() {
    let served = support::serve::Served::start(["--listen", "localhost:0"]);
    assert!(
        served.first_line.contains("listening on 127.0.0.1:"),
        "{}",
        served.first_line
    );
}

#[test]
fn a_bad_deny_consumer_code_lists_the_codes() {
    let out = cloud_report(&["serve", "--deny-consumer", "project:x=NOPE"], b"");
    fails_saying(
        &out,
        &[
            "NOPE is not a CheckError code (one of",
            "SERVICE_NOT_ACTIVATED",
        ],
    );
}

/// `serve --manual-clock --faults FILE`: the clock held until moved, the
/// faults waiting from the start, the admin routes behind the token; a bad
/// faults file refused before serving, in one line naming it.
#[test]
fn serve_takes_a_manual_clock_and_a_faults_file() {
    let dir = std::env::temp_dir().join(format!("cloud-report-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let faults = dir.join("faults.json");
    std::fs::write(
        &faults,
        r#"{"faults": [{"service": "cli.example.com", "method": "check", "httpStatus": 503}]}"#,
    )
    .unwrap();
    let served = support::serve::Served::start([
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--require-token".as_ref(),
        "t".as_ref(),
        "--manual-clock".as_ref(),
        "--faults".as_ref(),
        faults.as_os_str(),
    ]);
    let addr = served.addr.clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seen = runtime.block_on(async {
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let get = |path: &str, token: Option<&str>| {
            let mut request = http.get(format!("http://{addr}{path}"));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            async move {
                let answer = request.send().await.unwrap();
                (answer.status().as_u16(), answer.text().await.unwrap())
            }
        };
        let unauthenticated = get("/emulator/v1/clock", None).await.0;
        let clock = get("/emulator/v1/clock", Some("t")).await;
        let check = http
            .post(format!("http://{addr}/v1/services/cli.example.com:check"))
            .bearer_auth("t")
            .body(r#"{"operation": {"operationId": "1", "consumerId": "project:p"}}"#)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let pending = get("/emulator/v1/services/cli.example.com/faults", Some("t")).await;
        let log = get("/emulator/v1/services/cli.example.com/requests", Some("t")).await;
        (unauthenticated, clock, check, pending, log)
    });
    drop(served);
    let (unauthenticated, clock, check, pending, log) = seen;
    assert_eq!(unauthenticated, 401);
    assert_eq!(clock.0, 200);
    assert!(clock.1.contains("\"manual\":true"), "{}", clock.1);
    assert_eq!(check, 503);
    assert_eq!(pending.1, r#"{"faults":[]}"#);
    assert!(log.1.contains("\"method\":\"check\""), "{}", log.1);

    std::fs::write(
        &faults,
        r#"{"faults": [{"method": "check", "httpStatus": 503}]}"#,
    )
    .unwrap();
    let out = cloud_report(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            faults.to_str().unwrap(),
        ],
        b"",
    );
    let err = failed(&out);
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("cloud-report: ") && last.contains("faults.json: faults[0]: \"service\""),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET /emulator/v1/health` answers without the token the other calls
/// need, and `cloud-report healthcheck` exits 0 while the emulator serves,
/// 1 (saying why) once it is gone.
#[test]
fn health_is_answered_without_a_token_and_healthcheck_exits_by_it() {
    let mut served = support::serve::Served::start([
        "--listen",
        "127.0.0.1:0",
        "--require-token",
        "t",
        "--service-config",
        "../examples/service-config.yaml",
    ]);
    let url = served.url("");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (health, refused) = runtime.block_on(async {
        let http = support::plain_http();
        let health = http
            .get(served.url("/emulator/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let health: serde_json::Value = health.json().await.unwrap();
        let refused = http
            .get(served.url("/emulator/v1/clock"))
            .send()
            .await
            .unwrap()
            .status();
        (health, refused)
    });
    assert_eq!(refused, 401, "the rest still needs the token");
    assert_eq!(health["status"], "SERVING");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        health["services"],
        serde_json::json!(["bookstore.endpoints.my-project.cloud.goog"])
    );
    assert_eq!(health["storedBytes"], 0);
    assert_eq!(health["maxBytes"], 512 << 20);
    assert_eq!(health["maxRequestLogBytes"], 64 << 20);
    let up = cloud_report(&["healthcheck", &url, "--print"], b"");
    assert_eq!(up.status.code(), Some(0), "{}", stderr(&up));
    let printed: serde_json::Value = serde_json::from_slice(&up.stdout).unwrap();
    assert_eq!(printed["status"], "SERVING");
    served.signal("TERM");
    assert_eq!(
        served
            .wait_within(std::time::Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
    let down = cloud_report(&["healthcheck", &url, "--timeout", "2"], b"");
    let err = failed(&down);
    assert!(
        err.starts_with(&format!(
            "cloud-report: unhealthy: {url}/emulator/v1/health: no answer"
        )),
        "{err}"
    );
}

/// A report answered OK, as a REST call of `served` delayed by a fault so
/// that it is in flight when the signal comes: the HTTP status, or the
/// error when no answer came.
async fn delayed_report(http: &reqwest::Client, url: String, id: usize) -> Result<u16, String> {
    let body = serde_json::json!({"operations": [{
        "operationId": format!("op-{id}"),
        "operationName": "cli.v1.Things.Get",
        "consumerId": "project:p",
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": "2024-01-01T00:00:01Z",
    }]});
    http.post(url)
        .header("authorization", "Bearer t")
        .json(&body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// SIGTERM while 200 reports are in flight: no new connection is taken,
/// every report in flight is answered OK, and the emulator exits 0 within
/// its grace period. Past the grace period, the calls are cut and it exits
/// 1; a second signal ends it at once.
#[test]
fn sigterm_lets_the_calls_in_flight_finish() {
    let fault =
        |delay: &str| format!(r#"{{"method": "report", "times": 1000, "delay": "{delay}"}}"#);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (case, delay, grace, signals, expected) in [
        ("graceful", "1s", "30", 1, 0),
        ("grace passed", "20s", "0.5", 1, 1),
        ("second signal", "20s", "30", 2, 1),
    ] {
        let mut served = support::serve::Served::start([
            "--listen",
            "127.0.0.1:0",
            "--require-token",
            "t",
            "--shutdown-grace",
            grace,
        ]);
        let report = served.url("/v1/services/cli.example.com:report");
        let answers = runtime.block_on(async {
            let http = support::plain_http();
            let added = http
                .post(served.url("/emulator/v1/services/cli.example.com/faults"))
                .header("authorization", "Bearer t")
                .body(fault(delay))
                .send()
                .await
                .unwrap();
            assert_eq!(added.status(), 200, "{case}");
            let calls: Vec<_> = (0..200)
                .map(|i| {
                    let (http, report) = (http.clone(), report.clone());
                    tokio::spawn(async move { delayed_report(&http, report, i).await })
                })
                .collect();
            // Every call reached the emulator: the log has them all.
            let log = served.url("/emulator/v1/services/cli.example.com/requests");
            for _ in 0..200 {
                let seen = support::get_json(&http, &log, Some("t")).await;
                if seen["requests"].as_array().map_or(0, Vec::len) == 200 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            for _ in 0..signals {
                served.signal("TERM");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            // No new connection is taken.
            let late = delayed_report(&support::plain_http(), report.clone(), 999).await;
            assert!(late.is_err(), "{case}: a call after the signal: {late:?}");
            let mut answers = Vec::new();
            for call in calls {
                answers.push(call.await.unwrap());
            }
            answers
        });
        let status = served.wait_within(std::time::Duration::from_secs(10));
        assert_eq!(status.and_then(|s| s.code()), Some(expected), "{case}");
        let ok = answers.iter().filter(|a| **a == Ok(200)).count();
        if expected == 0 {
            assert_eq!(
                ok, 200,
                "{case}: every call in flight answered OK: {answers:?}"
            );
        } else {
            assert_eq!(ok, 0, "{case}: calls cut: {:?}", &answers[..3]);
        }
    }
}

/// `env-init` prints the variables; `serve --exec` runs a script with them
/// set once the emulator is healthy, then exits with the script's status.
#[test]
fn serve_exec_runs_a_script_against_the_emulator_and_exits_with_its_status() {
    let init = cloud_report(&["env-init", "--listen", "127.0.0.1:9999"], b"");
    assert_eq!(init.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(init.stdout).unwrap(),
        "export SERVICE_CONTROL_EMULATOR_HOST=127.0.0.1:9999\nexport APIGEE_EMULATOR_HOST=127.0.0.1:9999\n"
    );
    let binary = env!("CARGO_BIN_EXE_cloud-report-under-test");
    // The script reaches the emulator by the variable, and its status is
    // the command's.
    let script = format!(
        r#"test "$APIGEE_EMULATOR_HOST" = "$SERVICE_CONTROL_EMULATOR_HOST" && "{binary}" healthcheck "http://$SERVICE_CONTROL_EMULATOR_HOST" && exit 0"#
    );
    for (script, expected) in [
        (script.as_str(), 0),
        ("exit 3", 3),
        ("kill -s KILL $$", 137),
    ] {
        let out = cloud_report(&["serve", "--listen", "127.0.0.1:0", "--exec", script], b"");
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{script}: {}",
            stderr(&out)
        );
    }
}

/// `serve --data-dir`: what the emulator kept (operations, a status, quota
/// windows, the request log, a fault waiting, a rollout id, the
/// configurations and state) survives SIGTERM and a start from the same
/// directory, every inspection endpoint answering what it answered before;
/// calls in flight when the signal came are answered and kept.
#[test]
fn a_data_dir_keeps_everything_across_a_restart() {
    const SERVICE: &str = "bookstore.endpoints.my-project.cloud.goog";
    let dir = fresh_dir("data");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--require-token",
        "t",
        "--service-config",
        "../examples/service-config.yaml",
        "--state",
        "../examples/service-state.json",
        "--data-dir",
        dir.to_str().unwrap(),
        // Held, and kept: the quota window cannot end between the runs.
        "--manual-clock",
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = support::plain_http();
    let inspect = |served: &support::serve::Served| {
        runtime.block_on(async {
            let mut seen = Vec::new();
            for path in [
                format!("/emulator/v1/services/{SERVICE}/operations"),
                format!("/emulator/v1/services/{SERVICE}/quota"),
                format!("/emulator/v1/services/{SERVICE}/requests"),
                format!("/emulator/v1/services/{SERVICE}/faults"),
                "/emulator/v1/organizations/acme/instances/i1/status".to_owned(),
            ] {
                let answer = http
                    .get(served.url(&path))
                    .bearer_auth("t")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200, "{path}");
                seen.push((path, answer.json::<serde_json::Value>().await.unwrap()));
            }
            seen
        })
    };
    let post = |served: &support::serve::Served, path: String, body: serde_json::Value| {
        let http = http.clone();
        let url = served.url(&path);
        async move {
            let answer = http
                .post(url)
                .bearer_auth("t")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            (
                status,
                answer.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let mut first = support::serve::Served::start(args);
    runtime.block_on(async {
        let op = |id: &str| serde_json::json!({
            "operationId": id,
            "operationName": "endpoints.examples.bookstore.Bookstore.GetShelf",
            "consumerId": "api_key:AIza-good",
            "startTime": "2024-01-01T00:00:00Z",
            "endTime": "2024-01-01T00:00:01Z",
        });
        let (status, _) = post(&first, format!("/v1/services/{SERVICE}:check"), serde_json::json!({"operation": op("c-1")})).await;
        assert_eq!(status, 200);
        let ask = serde_json::json!({"allocateOperation": {
            "operationId": "q-1",
            "methodName": "endpoints.examples.bookstore.Bookstore.GetShelf",
            "consumerId": "api_key:AIza-good",
            "quotaMode": "NORMAL",
            "quotaMetrics": [{"metricName": "read-requests", "metricValues": [{"int64Value": "2"}]}],
        }});
        let (status, _) = post(&first, format!("/v1/services/{SERVICE}:allocateQuota"), ask).await;
        assert_eq!(status, 200);
        let (status, _) = post(&first, "/v1/organizations/acme/instances/i1:reportStatus".into(),
            serde_json::json!({"instanceUid": "u-1", "reportTime": "2024-01-01T00:00:00Z"})).await;
        assert_eq!(status, 200);
        let (status, _) = post(&first, format!("/emulator/v1/services/{SERVICE}/faults"),
            serde_json::json!({"method": "check", "times": 2, "httpStatus": 503})).await;
        assert_eq!(status, 200);
        // 50 reports in flight when SIGTERM comes (each held 500 ms).
        let (status, _) = post(&first, format!("/emulator/v1/services/{SERVICE}/faults"),
            serde_json::json!({"method": "report", "times": 50, "delay": "0.5s"})).await;
        assert_eq!(status, 200);
        let reports: Vec<_> = (0..50)
            .map(|i| {
                let call = post(&first, format!("/v1/services/{SERVICE}:report"),
                    serde_json::json!({"operations": [op(&format!("r-{i}"))]}));
                tokio::spawn(call)
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        first.signal("TERM");
        for report in reports {
            let (status, answer) = report.await.unwrap();
            assert_eq!(status, 200, "{answer}");
        }
    });
    assert_eq!(
        first
            .wait_within(std::time::Duration::from_secs(10))
            .and_then(|s| s.code()),
        Some(0)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "cloud-report-emulator-snapshot");
    assert_eq!(manifest["version"], 1);
    // Started again from the directory: the same answers.
    let second = support::serve::Served::start(args);
    let after = inspect(&second);
    let operations = &after[0].1["operations"];
    assert_eq!(
        operations.as_array().map(Vec::len),
        Some(50),
        "every report answered OK is kept"
    );
    assert_eq!(after[1].1["quotaUsage"][0]["used"], 2, "{}", after[1].1);
    assert_eq!(after[3].1["faults"][0]["times"], 2);
    assert_eq!(
        after[2].1["requests"].as_array().map(Vec::len),
        Some(52),
        "the log: the check, the quota ask and the 50 reports"
    );
    assert_eq!(after[4].1["statuses"][0]["instanceUid"], "u-1");
    // Exported again as it is, and read again: the same answers still.
    drop(second);
    let third = support::serve::Served::start(args);
    assert_eq!(inspect(&third), after);
    drop(third);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A snapshot cut short, changed, or of another version is refused at
/// start in one line naming the file and where, and nothing is served.
#[test]
fn a_damaged_snapshot_is_refused_naming_the_file_and_offset() {
    let dir = fresh_dir("damaged");
    let path = dir.to_str().unwrap().to_owned();
    // A snapshot with something in it.
    let script = r#"curl -s -o /dev/null -X POST -H 'content-type: application/json' \
        -d '{"operations": [{"operationId": "o", "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T00:00:01Z"}]}' \
        "http://$SERVICE_CONTROL_EMULATOR_HOST/v1/services/s.example.com:report""#;
    let made = cloud_report(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &path,
            "--exec",
            script,
        ],
        b"",
    );
    assert_eq!(made.status.code(), Some(0), "{}", stderr(&made));
    let manifest_path = dir.join("manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let store = dir.join(manifest["store"]["file"].as_str().unwrap());
    let good_store = std::fs::read(&store).unwrap();
    let good_manifest = std::fs::read(&manifest_path).unwrap();
    assert!(good_store.len() > 40);
    // Read with --import: not written back, so the damage stays.
    let start = || {
        cloud_report(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--import",
                &path,
                "--exec",
                "exit 0",
            ],
            b"",
        )
    };
    assert_eq!(
        start().status.code(),
        Some(0),
        "the snapshot as written loads"
    );
    // Cut short.
    std::fs::write(&store, &good_store[..good_store.len() - 7]).unwrap();
    let out = start();
    let err = failed(&out);
    assert!(
        err.contains(&format!(
            "{}: truncated at byte offset {}",
            store.display(),
            good_store.len() - 7
        )),
        "{err}"
    );
    // Changed.
    let mut changed = good_store.clone();
    changed[30] ^= 0x55;
    std::fs::write(&store, &changed).unwrap();
    let err = stderr(&start());
    assert!(
        err.contains(&format!("{}: corrupt", store.display())),
        "{err}"
    );
    // Changed, with a manifest to match: the record itself is refused.
    let mut bad_record = good_store.clone();
    bad_record[0] = 0xff;
    bad_record[1] = 0xff;
    std::fs::write(&store, &bad_record).unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&good_manifest).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bad_record);
    forged["store"]["sha256"] = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into();
    std::fs::write(&manifest_path, forged.to_string()).unwrap();
    let err = stderr(&start());
    assert!(
        err.contains(&format!("{}: byte offset 0:", store.display())),
        "{err}"
    );
    // Another version.
    std::fs::write(&store, &good_store).unwrap();
    let mut other: serde_json::Value = serde_json::from_slice(&good_manifest).unwrap();
    other["version"] = 2.into();
    std::fs::write(&manifest_path, other.to_string()).unwrap();
    let out = start();
    fails_saying(&out, &["version 2: this emulator reads version 1"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening"),
        "nothing served"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `cloud-report export` asks a running emulator for a snapshot under its
/// data directory, which `--import` then starts from; without a data
/// directory the emulator refuses (FAILED_PRECONDITION).
#[test]
fn a_running_emulator_exports_under_its_data_dir() {
    let dir = fresh_dir("export");
    let served = support::serve::Served::start([
        "--listen",
        "127.0.0.1:0",
        "--require-token",
        "t",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let url = served.url("");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let answer = support::plain_http()
            .post(served.url("/v1/services/e.example.com:report"))
            .bearer_auth("t")
            .json(&serde_json::json!({"operations": [{"operationId": "o-1",
                "startTime": "2024-01-01T00:00:00Z", "endTime": "2024-01-01T00:00:01Z"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    });
    let out = cloud_report(
        &[
            "export", "--url", &url, "--path", "ci/run-1", "--token", "t",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["operations"], 1);
    let snapshot = dir.join("ci/run-1");
    assert!(snapshot.join("manifest.json").is_file());
    let outside = cloud_report(
        &["export", "--url", &url, "--path", "../x", "--token", "t"],
        b"",
    );
    assert!(
        failed(&outside).contains("HTTP 400"),
        "{}",
        stderr(&outside)
    );
    drop(served);
    // Started from it elsewhere: the operation is there.
    let script = format!(
        r#"test "$(curl -s "http://$SERVICE_CONTROL_EMULATOR_HOST/emulator/v1/services/e.example.com/operations")" = '{}'"#,
        r#"{"operations":[{"operationId":"o-1","startTime":"2024-01-01T00:00:00Z","endTime":"2024-01-01T00:00:01Z"}]}"#
    );
    let out = cloud_report(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--import",
            snapshot.to_str().unwrap(),
            "--exec",
            &script,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // No data directory: refused.
    let plain = support::serve::Served::start(["--listen", "127.0.0.1:0"]);
    let out = cloud_report(&["export", "--url", &plain.url("")], b"");
    assert!(
        failed(&out).contains("FAILED_PRECONDITION"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An emulator trusting a service account's key alone (no fixed token)
/// can still be read by a person: `cloud-report token --key-file` prints a
/// token that key signs, which the emulator accepts.
#[test]
fn a_token_minted_from_a_trusted_key_reads_the_emulator() {
    let (_, key) =
        crate::ca::service_account_key("reader@my-project.iam.gserviceaccount.com", "k-9");
    let dir = std::env::temp_dir().join(format!("cloud-report-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("key.json");
    std::fs::write(&key_file, key.to_string()).unwrap();
    let served = support::serve::Served::start([
        "--listen",
        "127.0.0.1:0",
        "--trust-service-account",
        key_file.to_str().unwrap(),
    ]);
    let minted = cloud_report(&["token", "--key-file", key_file.to_str().unwrap()], b"");
    assert_eq!(minted.status.code(), Some(0), "{}", stderr(&minted));
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let path = "/emulator/v1/services/s.example.com/operations";
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (with, without) = runtime.block_on(async {
        let http = support::plain_http();
        let with = http
            .get(served.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let without = http.get(served.url(path)).send().await.unwrap();
        (with.status().as_u16(), without.status().as_u16())
    });
    assert_eq!((with, without), (200, 401));
    let too_long = cloud_report(
        &[
            "token",
            "--key-file",
            key_file.to_str().unwrap(),
            "--lifetime",
            "7200",
        ],
        b"",
    );
    assert_eq!(too_long.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SIGTERM while `--exec`'s script runs: the script gets the signal, and
/// the emulator stops at once rather than waiting for it.
#[test]
fn sigterm_during_exec_ends_the_script_and_the_emulator() {
    let mut served =
        support::serve::Served::start(["--listen", "127.0.0.1:0", "--exec", "sleep 30"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    served.signal("TERM");
    let status = served.wait_within(std::time::Duration::from_secs(5));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "stopped promptly");
}

/// A report of one operation of about 990 KB (a text log entry).
fn big_report(id: String) -> Vec<u8> {
    use cloud_report_proto::google::api::servicecontrol::v1::{
        LogEntry, Operation, ReportRequest, log_entry,
    };
    use cloud_report_proto::google::protobuf::Timestamp;
    use prost::Message;
    let time = |seconds| {
        Some(Timestamp {
            seconds,
            ..Default::default()
        })
    };
    ReportRequest {
        service_name: "memory.example.com".into(),
        operations: vec![Operation {
            operation_id: id,
            operation_name: "big".into(),
            consumer_id: "project:p".into(),
            start_time: time(1_700_000_000),
            end_time: time(1_700_000_001),
            log_entries: vec![LogEntry {
                name: "endpoints_log".into(),
                timestamp: time(1_700_000_000),
                payload: Some(log_entry::Payload::TextPayload("x".repeat(990_000))),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

/// Posts a binary report; the HTTP status answered.
async fn post_report(http: reqwest::Client, url: String, body: Vec<u8>) -> u16 {
    http.post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The memory promised: with the store (`--max-bytes`, 512 MiB by default)
/// and the request log (64 MiB) full of 990 KB reports, a data directory,
/// an export under way, the page read and reports still arriving (refused,
/// and logged) at once, and then the snapshot written at SIGTERM, the server's peak
/// resident memory stays within `--max-bytes` + `--max-request-log-bytes`
/// + 64 MiB.
#[test]
fn a_full_emulator_stays_within_its_memory_bound() {
    const BOUND_MIB: u64 = 512 + 64 + 64;
    let dir = fresh_dir("memory");
    // Each test lists the flags it serves with whole, as a user types them.
    let mut served = support::serve::Served::start([
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.to_str().unwrap(),
    ]);
    let url = served.url("/v1/services/memory.example.com:report");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored = runtime.block_on(async {
        let http = support::plain_http();
        // Four senders until the store refuses them.
        let senders: Vec<_> = (0..4)
            .map(|sender| {
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move {
                    let mut taken = 0u32;
                    loop {
                        let body = big_report(format!("r-{sender}-{taken}"));
                        match post_report(http.clone(), url.clone(), body).await {
                            200 => taken += 1,
                            429 => return taken,
                            other => panic!("report answered HTTP {other}"),
                        }
                    }
                })
            })
            .collect();
        let mut stored = 0;
        for sender in senders {
            stored += sender.await.unwrap();
        }
        // Full: an export, the page three times and more reports at once.
        let export = {
            let http = http.clone();
            let url = served.url("/emulator/v1:export");
            tokio::spawn(async move {
                http.post(url)
                    .header("content-type", "application/json")
                    .body(r#"{"path": "while-full"}"#)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        };
        // The page open: read three times in turn, as it refreshes.
        let pages = {
            let (http, url) = (http.clone(), served.url("/emulator/ui/"));
            tokio::spawn(async move {
                for _ in 0..3 {
                    let page = http.get(&url).send().await.unwrap();
                    assert_eq!(page.status(), 200);
                    let page = page.text().await.unwrap();
                    assert!(page.contains("bytes in all"), "the payloads are cut");
                }
            })
        };
        // Four senders again, ten reports each.
        let more: Vec<_> = (0..4)
            .map(|sender| {
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move {
                    for n in 0..10 {
                        let body = big_report(format!("more-{sender}-{n}"));
                        let status = post_report(http.clone(), url.clone(), body).await;
                        assert_eq!(status, 429, "the store is full");
                    }
                })
            })
            .collect();
        assert_eq!(export.await.unwrap(), 200);
        pages.await.unwrap();
        for sender in more {
            sender.await.unwrap();
        }
        stored
    });
    // 512 MiB of 990 KB operations.
    assert!(stored > 500, "only {stored} reports stored");
    // Stopped: the snapshot is written; the peak read until the process
    // is gone.
    served.signal("TERM");
    let mut peak = 0;
    let status = loop {
        if let Some(mib) = served.peak_rss_mib() {
            peak = mib;
        }
        if let Some(status) = served.wait_within(std::time::Duration::from_millis(10)) {
            break status;
        }
    };
    assert_eq!(status.code(), Some(0));
    assert!(dir.join("manifest.json").is_file());
    assert!(dir.join("while-full/manifest.json").is_file());
    assert!(
        peak <= BOUND_MIB,
        "peak resident memory {peak} MiB, over the bound of {BOUND_MIB} MiB"
    );
    eprintln!("{stored} reports stored; peak resident memory {peak} MiB of {BOUND_MIB} MiB");
    std::fs::remove_dir_all(&dir).unwrap();
}
