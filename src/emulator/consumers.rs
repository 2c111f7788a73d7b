//! Consumers of the emulated services: projects and API keys from the state
//! file, and the Check judgement made from them.
//!
//! ```json
//! {
//!   "projects": {
//!     "my-project": {"number": 123456789012, "enabledServices": ["bookstore.example.com"]},
//!     "no-billing": {"number": 2, "enabledServices": ["bookstore.example.com"], "billingEnabled": false},
//!     "gone": {"number": 3, "deleted": true}
//!   },
//!   "apiKeys": {
//!     "AIza-good": {"project": "my-project"},
//!     "AIza-office": {"project": "my-project", "restrictions": {
//!       "serverKeyRestrictions": {"allowedIps": ["203.0.113.0/24"]},
//!       "apiTargets": [{"service": "bookstore.example.com", "methods": ["GetShelf"]}]
//!     }}
//!   }
//! }
//! ```
//!
//! Restrictions take the names of the API Keys API (`apikeys.googleapis.com`
//! v2): `browserKeyRestrictions.allowedReferrers`,
//! `serverKeyRestrictions.allowedIps`,
//! `androidKeyRestrictions.allowedApplications` (`packageName`,
//! `sha1Fingerprint`), `iosKeyRestrictions.allowedBundleIds`, and
//! `apiTargets` (`service`, `methods`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::google::api::servicecontrol::v1 as sc;
use crate::google::api::servicecontrol::v1::check_error::Code as CheckCode;
use crate::google::api::servicecontrol::v1::check_response::{ConsumerInfo, consumer_info};
use crate::google::rpc::{Code, Status};

/// The labels a gateway puts on a Check operation that key restrictions are
/// judged by (ESP and ESPv2 send them).
pub mod labels {
    /// The caller's IP address.
    pub const CALLER_IP: &str = "servicecontrol.googleapis.com/caller_ip";
    /// The request's `Referer`.
    pub const REFERER: &str = "servicecontrol.googleapis.com/referer";
    /// The calling Android app's package name.
    pub const ANDROID_PACKAGE_NAME: &str = "servicecontrol.googleapis.com/android_package_name";
    /// The calling Android app's signing certificate's SHA-1 fingerprint.
    pub const ANDROID_CERT_FINGERPRINT: &str =
        "servicecontrol.googleapis.com/android_cert_fingerprint";
    /// The calling iOS app's bundle id.
    pub const IOS_BUNDLE_ID: &str = "servicecontrol.googleapis.com/ios_bundle_id";
}

/// The projects and API keys Check judges consumers by.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConsumerState {
    /// Projects by id.
    #[serde(default)]
    pub projects: BTreeMap<String, Project>,
    /// API keys by their key string.
    #[serde(default)]
    pub api_keys: BTreeMap<String, ApiKey>,
}

/// A consumer project.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Project {
    /// The project number.
    pub number: i64,
    /// The services the project has enabled, by name.
    #[serde(default)]
    pub enabled_services: Vec<String>,
    /// Billing is enabled (the default).
    #[serde(default = "yes")]
    pub billing_enabled: bool,
    /// The project is deleted.
    #[serde(default)]
    pub deleted: bool,
}

fn yes() -> bool {
    true
}

/// An API key.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiKey {
    /// The id of the project that owns the key.
    pub project: String,
    /// The key's unique id; Check answers `check_info.api_key_uid` as
    /// `apikey:<uid>` (the form ESPv2 copies into `/credential_id`) when the
    /// key passed every validation. Made up from the key when not given.
    #[serde(default)]
    pub uid: Option<String>,
    /// The key has expired.
    #[serde(default)]
    pub expired: bool,
    /// The key was deleted: Check says it is not found.
    #[serde(default)]
    pub deleted: bool,
    /// What the key may be used from and for.
    #[serde(default)]
    pub restrictions: Restrictions,
}

/// An API key's restrictions; each kind given restricts, each left out
/// does not.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Restrictions {
    /// Referers the key may be used from.
    pub browser_key_restrictions: Option<BrowserKeyRestrictions>,
    /// IP addresses and networks the key may be used from.
    pub server_key_restrictions: Option<ServerKeyRestrictions>,
    /// Android apps the key may be used from.
    pub android_key_restrictions: Option<AndroidKeyRestrictions>,
    /// iOS apps the key may be used from.
    pub ios_key_restrictions: Option<IosKeyRestrictions>,
    /// The services (and methods) the key may call.
    #[serde(default)]
    pub api_targets: Vec<ApiTarget>,
}

/// Referer patterns: `*` wildcards, `*.example.com/*`, `https://a.com/b`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BrowserKeyRestrictions {
    /// The allowed referers.
    pub allowed_referrers: Vec<String>,
}

/// IP addresses and CIDR networks.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerKeyRestrictions {
    /// The allowed addresses, such as `203.0.113.7` or `2001:db8::/32`.
    pub allowed_ips: Vec<String>,
}

/// Android apps.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AndroidKeyRestrictions {
    /// The allowed apps.
    pub allowed_applications: Vec<AndroidApplication>,
}

/// One Android app.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AndroidApplication {
    /// The SHA-1 fingerprint of its signing certificate.
    pub sha1_fingerprint: String,
    /// Its package name.
    pub package_name: String,
}

/// iOS apps.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IosKeyRestrictions {
    /// The allowed bundle ids.
    pub allowed_bundle_ids: Vec<String>,
}

/// A service a key may call, and which of its methods (all when empty).
/// Names compare without case, as the API Keys API compares them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiTarget {
    /// The service name.
    pub service: String,
    /// Method patterns, as the API Keys API takes them: a full name
    /// (`endpoints.examples.bookstore.Bookstore.GetShelf`), a short name
    /// (`GetShelf`), either prefixed by the service name, and `*` only as the
    /// last symbol (`Get*`); empty allows every method.
    #[serde(default)]
    pub methods: Vec<String>,
}

impl ConsumerState {
    /// Checks that keys name defined projects and restrictions parse.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (key, api_key) in &self.api_keys {
            if !self.projects.contains_key(&api_key.project) {
                return Err(format!(
                    "apiKeys.{key}.project: {:?} is not a project of the state",
                    api_key.project
                ));
            }
            let r = &api_key.restrictions;
            let kinds = [
                r.browser_key_restrictions.is_some(),
                r.server_key_restrictions.is_some(),
                r.android_key_restrictions.is_some(),
                r.ios_key_restrictions.is_some(),
            ];
            if kinds.iter().filter(|k| **k).count() > 1 {
                return Err(format!(
                    "apiKeys.{key}.restrictions: a key has one kind of client restriction (browser, server, Android or iOS), as the API Keys API's oneof allows"
                ));
            }
            for (i, target) in r.api_targets.iter().enumerate() {
                for (j, method) in target.methods.iter().enumerate() {
                    if method.is_empty() || method.strip_suffix('*').unwrap_or(method).contains('*')
                    {
                        return Err(format!(
                            "apiKeys.{key}.restrictions.apiTargets[{i}].methods[{j}]: {method:?}: a wildcard may only be the last symbol"
                        ));
                    }
                }
            }
            if let Some(server) = &api_key.restrictions.server_key_restrictions {
                for (i, ip) in server.allowed_ips.iter().enumerate() {
                    Network::parse(ip).ok_or_else(|| {
                        format!(
                            "apiKeys.{key}.restrictions.serverKeyRestrictions.allowedIps[{i}]: {ip:?} is not an IP address or network"
                        )
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The project a project id or number names.
    fn project(&self, id_or_number: ProjectRef<'_>) -> Option<(&str, &Project)> {
        match id_or_number {
            ProjectRef::Id(id) => self
                .projects
                .get_key_value(id)
                .map(|(k, p)| (k.as_str(), p)),
            ProjectRef::Number(n) => self
                .projects
                .iter()
                .find(|(_, p)| p.number == n)
                .map(|(k, p)| (k.as_str(), p)),
        }
    }

    /// A key of the state, or the check error of why it cannot be used
    /// (unknown, deleted, expired, judged in that order) with its message
    /// (ESPv2's words for each code).
    fn key(&self, key: &str) -> Result<&ApiKey, (CheckCode, &'static str)> {
        match self.api_keys.get(key) {
            None => Err((
                CheckCode::ApiKeyInvalid,
                "API key not valid. Please pass a valid API key.",
            )),
            Some(k) if k.deleted => Err((
                CheckCode::ApiKeyNotFound,
                "API key not found. Please pass a valid API key.",
            )),
            Some(k) if k.expired => Err((
                CheckCode::ApiKeyExpired,
                "API key expired. Please renew the API key.",
            )),
            Some(k) => Ok(k),
        }
    }

    /// The Check judgement of `operation` for `service`: the errors, in the
    /// order the real API judges (key, key restrictions, project), the
    /// consumer when known, and the key's uid.
    pub(crate) fn judge(&self, service: &str, op: &sc::Operation) -> Judgement {
        let mut judgement = Judgement::default();
        let consumer = op.consumer_id.as_str();
        let fail = |code: CheckCode, detail: String| check_error(code, consumer, detail);
        let project = if let Some(key) = consumer.strip_prefix("api_key:") {
            let api_key = match self.key(key) {
                Ok(api_key) => api_key,
                Err((code, why)) => {
                    judgement.errors.push(fail(code, why.into()));
                    return judgement;
                }
            };
            match restriction_error(&api_key.restrictions, service, op) {
                Some(error) => judgement.errors.push(fail(error.0, error.1)),
                None => {
                    let uid = api_key.uid.clone();
                    let uid = uid.unwrap_or_else(|| format!("emulator-key-{:016x}", fnv(key)));
                    judgement.api_key_uid = Some(if uid.starts_with("apikey:") {
                        uid
                    } else {
                        format!("apikey:{uid}")
                    });
                }
            }
            ProjectRef::Id(&api_key.project)
        } else {
            match project_ref(consumer) {
                Ok(project) => project,
                Err(why) => {
                    judgement.malformed = Some(why);
                    return judgement;
                }
            }
        };
        let Some((id, project)) = self.project(project) else {
            judgement.errors.push(fail(
                CheckCode::NotFound,
                "Client project not found. Please pass a valid project.".into(),
            ));
            return judgement;
        };
        judgement.consumer = Some(ConsumerInfo {
            project_number: project.number,
            r#type: consumer_info::ConsumerType::Project as i32,
            consumer_number: project.number,
            ..Default::default()
        });
        if !judgement.errors.is_empty() {
            return judgement;
        }
        if project.deleted {
            judgement.errors.push(fail(
                CheckCode::ProjectDeleted,
                format!("project {id} has been deleted"),
            ));
        } else if !project.enabled_services.iter().any(|s| s == service) {
            judgement.errors.push(fail(
                CheckCode::ServiceNotActivated,
                format!("{service} has not been used in project {id} before or it is disabled"),
            ));
        } else if !project.billing_enabled {
            judgement.errors.push(fail(
                CheckCode::BillingDisabled,
                format!("billing is disabled for project {id}"),
            ));
        }
        judgement
    }
}

impl ConsumerState {
    /// Whom AllocateQuota counts quota against for a consumer id: its
    /// project (`project:<id>`) when the state knows it, through an API key
    /// or by id or number; the id as given for a consumer the state does not
    /// know. The quota methods check only that keys are valid and that the
    /// project is not deleted (the `QuotaError` comment: other validations
    /// are Check's).
    pub(crate) fn quota_consumer(&self, consumer_id: &str) -> QuotaConsumer {
        use QuotaConsumer::{Counted, Malformed, Refused};
        use sc::quota_error::Code as QuotaCode;
        if let Some(why) = quota_consumer_problem(consumer_id) {
            return Malformed(why);
        }
        let project = if let Some(key) = consumer_id.strip_prefix("api_key:") {
            if self.projects.is_empty() && self.api_keys.is_empty() {
                return Counted(consumer_id.to_owned());
            }
            match self.key(key) {
                Ok(api_key) => ProjectRef::Id(&api_key.project),
                Err((code, why)) => {
                    let code = super::quota::refusal_of(code).unwrap_or(QuotaCode::ApiKeyInvalid);
                    return Refused(code, why.into());
                }
            }
        } else {
            match project_ref(consumer_id) {
                Ok(project) => project,
                Err(why) => return Malformed(why),
            }
        };
        match self.project(project) {
            Some((id, project)) if project.deleted => Refused(
                QuotaCode::ProjectDeleted,
                format!("project {id} has been deleted"),
            ),
            Some((id, _)) => Counted(format!("project:{id}")),
            None => Counted(consumer_id.to_owned()),
        }
    }
}

/// Whom an AllocateQuota is counted against, or why it is not.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QuotaConsumer {
    /// Counted against this consumer.
    Counted(String),
    /// Refused with this error.
    Refused(sc::quota_error::Code, String),
    /// The consumer id is not of a consumer form: why.
    Malformed(String),
}

enum ProjectRef<'a> {
    Id(&'a str),
    Number(i64),
}

/// The project a consumer id other than an API key names, or why it is
/// not a consumer id: one rule for Check and AllocateQuota, whose answer to
/// a malformed id is INVALID_ARGUMENT naming the field (Google documents no
/// check error for it: `CONSUMER_INVALID` means a key's consumer that is no
/// valid folder or organization, `PROJECT_INVALID` a project that is no
/// valid project).
fn project_ref(consumer_id: &str) -> Result<ProjectRef<'_>, String> {
    if let Some(id) = consumer_id.strip_prefix("project:") {
        if id.is_empty() {
            return Err("project: names no project".into());
        }
        Ok(ProjectRef::Id(id))
    } else if let Some(number) = consumer_id.strip_prefix("project_number:") {
        number
            .parse()
            .map(ProjectRef::Number)
            .map_err(|_| format!("{:?} is not a project number", crate::rest::clip(number)))
    } else if consumer_id.is_empty() {
        Err("is required".into())
    } else {
        Err(format!(
            "{:?} is none of project:, project_number:, api_key:",
            crate::rest::clip(consumer_id)
        ))
    }
}

/// What Check decided about a consumer.
#[derive(Debug, Default)]
pub(crate) struct Judgement {
    pub(crate) errors: Vec<sc::CheckError>,
    /// The consumer id is not of a consumer form: why (the request is
    /// refused whole).
    pub(crate) malformed: Option<String>,
    pub(crate) consumer: Option<ConsumerInfo>,
    pub(crate) api_key_uid: Option<String>,
}

/// A `CheckError` of `subject`, with the status a gateway answers its
/// client with for the code.
pub(crate) fn check_error(code: CheckCode, subject: &str, detail: String) -> sc::CheckError {
    sc::CheckError {
        code: code as i32,
        subject: subject.to_owned(),
        status: Some(Status::new(rpc_code(code), detail.clone())),
        detail,
        ..Default::default()
    }
}

/// Why a consumer id is of no consumer form, `None` when it is of one or
/// empty (an absent consumer is the method's to judge): one rule for Check
/// and AllocateQuota, in every mode.
pub(crate) fn malformed(consumer_id: &str) -> Option<String> {
    if consumer_id.is_empty() {
        return None;
    }
    match consumer_id.strip_prefix("api_key:") {
        Some("") => Some("api_key: names no key".into()),
        Some(_) => None,
        None => project_ref(consumer_id).err(),
    }
}

/// Why an AllocateQuota's consumer id is none: empty (a quota is always
/// some consumer's; ESPv2 names the producer's project when a call carries
/// no key) or of no consumer form ([`malformed`]).
pub(crate) fn quota_consumer_problem(consumer_id: &str) -> Option<String> {
    match consumer_id {
        "" => Some("is required".to_owned()),
        id => malformed(id),
    }
}

/// The `google.rpc.Code` a gateway answers its client with for each
/// CheckError code (ESPv2's mapping).
fn rpc_code(code: CheckCode) -> Code {
    match code {
        CheckCode::NotFound
        | CheckCode::ApiKeyInvalid
        | CheckCode::ApiKeyExpired
        | CheckCode::ApiKeyNotFound
        | CheckCode::ProjectInvalid
        | CheckCode::ConsumerInvalid
        | CheckCode::InvalidCredential => Code::InvalidArgument,
        CheckCode::ResourceExhausted => Code::ResourceExhausted,
        CheckCode::NamespaceLookupUnavailable
        | CheckCode::ServiceStatusUnavailable
        | CheckCode::BillingStatusUnavailable
        | CheckCode::CloudResourceManagerBackendUnavailable => Code::Unavailable,
        _ => Code::PermissionDenied,
    }
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The first restriction the operation breaks.
fn restriction_error(
    r: &Restrictions,
    service: &str,
    op: &sc::Operation,
) -> Option<(CheckCode, String)> {
    let label = |key: &str| op.labels.get(key).map(String::as_str).unwrap_or("");
    if !r.api_targets.is_empty() {
        let allowed = r.api_targets.iter().any(|t| {
            t.service.eq_ignore_ascii_case(service)
                && (t.methods.is_empty()
                    || t.methods
                        .iter()
                        .any(|m| method_matches(m, service, &op.operation_name)))
        });
        if !allowed {
            return Some((
                CheckCode::ApiTargetBlocked,
                format!(
                    "requests to {} are blocked for this API key",
                    op.operation_name
                ),
            ));
        }
    }
    if let Some(server) = &r.server_key_restrictions {
        let ip = label(labels::CALLER_IP).parse::<IpAddr>().ok();
        let allowed = ip.is_some_and(|ip| {
            server
                .allowed_ips
                .iter()
                .filter_map(|n| Network::parse(n))
                .any(|n| n.contains(ip))
        });
        if !allowed {
            return Some((
                CheckCode::IpAddressBlocked,
                format!(
                    "the IP address {:?} is blocked for this API key",
                    label(labels::CALLER_IP)
                ),
            ));
        }
    }
    if let Some(browser) = &r.browser_key_restrictions {
        let referer = label(labels::REFERER);
        if !browser
            .allowed_referrers
            .iter()
            .any(|p| referer_matches(p, referer))
        {
            return Some((
                CheckCode::RefererBlocked,
                format!("the referer {referer:?} is blocked for this API key"),
            ));
        }
    }
    if let Some(android) = &r.android_key_restrictions {
        let package = label(labels::ANDROID_PACKAGE_NAME);
        let fingerprint = label(labels::ANDROID_CERT_FINGERPRINT);
        let allowed = android.allowed_applications.iter().any(|a| {
            a.package_name == package && same_fingerprint(&a.sha1_fingerprint, fingerprint)
        });
        if !allowed {
            return Some((
                CheckCode::ClientAppBlocked,
                format!("the Android app {package:?} is blocked for this API key"),
            ));
        }
    }
    if let Some(ios) = &r.ios_key_restrictions {
        let bundle = label(labels::IOS_BUNDLE_ID);
        if !ios.allowed_bundle_ids.iter().any(|b| b == bundle) {
            return Some((
                CheckCode::ClientAppBlocked,
                format!("the iOS app {bundle:?} is blocked for this API key"),
            ));
        }
    }
    None
}

/// A method pattern of an API target, as the API Keys API reads one: the
/// method's full name, its short name (after the last `.`), or the service
/// name and short name, compared without case; a `*` (only ever last)
/// makes the pattern a prefix of one of these.
fn method_matches(pattern: &str, service: &str, method: &str) -> bool {
    let short = method.rsplit('.').next().unwrap_or(method);
    let qualified = format!("{service}.{short}");
    let (prefix, wild) = match pattern.strip_suffix('*') {
        Some(prefix) => (prefix, true),
        None => (pattern, false),
    };
    [method, short, qualified.as_str()].iter().any(|name| {
        if wild {
            name.len() >= prefix.len()
                && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
        } else {
            name.eq_ignore_ascii_case(prefix)
        }
    })
}

/// A referer pattern, as the browser restrictions of a key take one:
/// `[scheme://]host[/path]`, `*` in the host standing for any run of the
/// host's characters (`*.example.com`), `*` in the path for any run of it. A
/// pattern without a scheme takes any scheme, one without a path any path.
/// The host is matched against the referer's host alone, so nothing in a
/// referer's path or query stands for its host.
fn referer_matches(pattern: &str, referer: &str) -> bool {
    /// (scheme, host with port, path with query)
    fn parts(url: &str) -> (Option<&str>, &str, Option<&str>) {
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, url),
        };
        match rest.find(['/', '?', '#']) {
            Some(i) => (scheme, &rest[..i], Some(&rest[i..])),
            None => (scheme, rest, None),
        }
    }
    let (p_scheme, p_host, p_path) = parts(pattern);
    let (r_scheme, r_host, r_path) = parts(referer);
    if let Some(scheme) = p_scheme
        && !r_scheme.is_some_and(|r| r.eq_ignore_ascii_case(scheme))
    {
        return false;
    }
    let host = |s: &str| s.to_ascii_lowercase();
    if !wildcard(host(p_host).as_bytes(), host(r_host).as_bytes()) {
        return false;
    }
    match p_path {
        None | Some("/*") => true,
        Some(path) => wildcard(path.as_bytes(), r_path.unwrap_or("/").as_bytes()),
    }
}

/// `*` matching any run of bytes; at most text × pattern steps.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

fn same_fingerprint(a: &str, b: &str) -> bool {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != ':')
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    !b.is_empty() && clean(a) == clean(b)
}

/// An IP address or CIDR network.
struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let base: IpAddr = addr.parse().ok()?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { base, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let mask = |bits: u32, prefix: u8| -> u128 {
            if prefix == 0 {
                0
            } else {
                (!0u128) << (bits - u32::from(prefix))
            }
        };
        match (self.base, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = mask(32, self.prefix) as u32;
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = mask(128, self.prefix);
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let (service, method) = ("bookstore.example.com", "a.B.GetShelf");
        for allowed in [
            "a.B.GetShelf",
            "GetShelf",
            "getshelf",
            "Get*",
            "a.b.*",
            "bookstore.example.com.GetShelf",
            "BOOKSTORE.example.com.Get*",
        ] {
            assert!(method_matches(allowed, service, method), "{allowed}");
        }
        for refused in [
            "GetShelves",
            "a.B.Get",
            "List*",
            "B.GetShelf",
            "other.com.GetShelf",
        ] {
            assert!(!method_matches(refused, service, method), "{refused}");
        }
        // The host is the referer's host, never a part of its path or query.
        assert!(!referer_matches(
            "*.example.com",
            "https://evil.com/?x=.example.com/"
        ));
        assert!(!referer_matches(
            "*.example.com",
            "https://evil.com/a.example.com"
        ));
        assert!(referer_matches(
            "*.example.com/*",
            "https://www.example.com/page?q=1"
        ));
        assert!(!referer_matches("*.example.com", "https://example.com/"));
        assert!(referer_matches("example.com", "http://EXAMPLE.com"));
        assert!(referer_matches(
            "*.example.com",
            "https://www.example.com/page"
        ));
        assert!(referer_matches(
            "https://example.com/a/*",
            "https://example.com/a/b"
        ));
        assert!(!referer_matches(
            "https://example.com/a/*",
            "http://example.com/a/b"
        ));
        assert!(!referer_matches("*.example.com", "https://example.org/"));
        let net = Network::parse("203.0.113.0/24").unwrap();
        assert!(net.contains("203.0.113.9".parse().unwrap()));
        assert!(!net.contains("203.0.114.9".parse().unwrap()));
        assert!(
            Network::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(Network::parse("1.2.3.4/33").is_none());
        assert!(same_fingerprint("AB:CD", "abcd"));
        // Many stars stay linear.
        let long = "a".repeat(10_000);
        assert!(!wildcard("*a*a*a*a*b".as_bytes(), long.as_bytes()));
    }
}
