//! The environment variables that point the crate's clients at a local
//! emulator, in the convention of Google's own emulators
//! (`PUBSUB_EMULATOR_HOST` and the like): `HOST:PORT`, spoken to in plain
//! text, no credentials sought. `cloud-report env-init` prints them and
//! `cloud-report serve --exec` sets them.
//!
//! A client honours a variable when it is set (and not empty) and the
//! client was given Google's own endpoint for that API: a gateway built
//! for production (`https://servicecontrol.googleapis.com`) runs against
//! the emulator with one variable changed, and a client given any other URL
//! goes where it was told.
//!
//! ```
//! use cloud_report_proto::emulator_env::{SERVICE_CONTROL_EMULATOR_HOST, emulator_url};
//!
//! // Unset: Google's endpoint stays.
//! # // SAFETY: the doctest is a process of its own.
//! # unsafe { std::env::remove_var(SERVICE_CONTROL_EMULATOR_HOST) };
//! assert_eq!(emulator_url("https://servicecontrol.googleapis.com"), None);
//! ```

/// `HOST:PORT` of the emulator standing in for Service Control
/// (`servicecontrol.googleapis.com`).
pub const SERVICE_CONTROL_EMULATOR_HOST: &str = "SERVICE_CONTROL_EMULATOR_HOST";

/// `HOST:PORT` of the emulator standing in for the Apigee control plane
/// (`apigee.googleapis.com`).
pub const APIGEE_EMULATOR_HOST: &str = "APIGEE_EMULATOR_HOST";

/// Google's host of each API, and the variable that replaces it.
const HOSTS: [(&str, &str); 2] = [
    (
        "servicecontrol.googleapis.com",
        SERVICE_CONTROL_EMULATOR_HOST,
    ),
    ("apigee.googleapis.com", APIGEE_EMULATOR_HOST),
];

/// The emulator's URL (`http://HOST:PORT`) standing in for `url` when
/// `url` is Google's endpoint of an API whose variable is set; `None`
/// otherwise.
pub fn emulator_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = rest.split(['/', '?']).next()?;
    let host = host.strip_suffix(":443").unwrap_or(host);
    let variable = HOSTS.iter().find(|(h, _)| *h == host)?.1;
    let emulator = std::env::var(variable).ok()?;
    let emulator = emulator.trim();
    (!emulator.is_empty()).then(|| format!("http://{emulator}"))
}

/// The base URL a client of `url` uses: the emulator's when
/// [`emulator_url`] gives one (logged, once per client), else `url`.
/// Whether it is the emulator's.
pub(crate) fn resolve(url: &str) -> (String, bool) {
    match emulator_url(url) {
        Some(emulator) => {
            tracing::info!(%url, %emulator, "an emulator host variable is set: calling the emulator in plain text, no credentials");
            (emulator, true)
        }
        None => (url.to_owned(), false),
    }
}

/// The lines `cloud-report env-init` prints for an emulator at
/// `host_port`: one `export NAME=HOST:PORT` per API.
pub fn env_init_lines(host_port: &str) -> Vec<String> {
    HOSTS
        .iter()
        .map(|(_, variable)| format!("export {variable}={host_port}"))
        .collect()
}

/// The variables `cloud-report serve --exec` sets for an emulator at
/// `host_port`, as (name, value).
pub fn variables(host_port: &str) -> Vec<(&'static str, String)> {
    HOSTS
        .iter()
        .map(|(_, variable)| (*variable, host_port.to_owned()))
        .collect()
}
