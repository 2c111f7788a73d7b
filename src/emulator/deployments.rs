//! The emulator's deployment state and the change reports computed from it.
//!
//! The state file (JSON) names, per organization, its environments, its
//! environment groups (each a set of environments sharing host names, so
//! sharing base-path routing), its API proxy revisions with the base paths
//! each claims, and what is deployed:
//!
//! ```json
//! {
//!   "organizations": {
//!     "acme": {
//!       "environments": ["prod", "staging"],
//!       "environmentGroups": {"prod-group": ["prod"], "test-group": ["staging"]},
//!       "apis": {
//!         "orders": {"1": ["/orders"], "2": ["/orders", "/orders/v2"]},
//!         "legacy": {"8": ["/orders/v1"]}
//!       },
//!       "deployments": [
//!         {"environment": "prod", "api": "orders", "revision": "1"},
//!         {"environment": "prod", "api": "legacy", "revision": "8"}
//!       ]
//!     }
//!   }
//! }
//! ```
//!
//! Routing follows Apigee's rule: within an environment group a request goes
//! to the deployment with the longest base path that prefixes its path, and a
//! base path claimed by one deployment cannot be claimed by another.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::service_config::one_line;

use crate::google::cloud::apigee::v1::DeploymentChangeReport;
use crate::google::cloud::apigee::v1::deployment_change_report::{
    RoutingChange, RoutingConflict, RoutingDeployment,
};
use crate::google::rpc::PreconditionFailure;
use crate::google::rpc::precondition_failure::Violation;

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The file is not valid JSON of the documented form.
    #[error("invalid state at {}: {}", one_line(.path), one_line(.message))]
    Syntax {
        /// The JSON path of the problem.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file is consistent JSON but refers to things it does not define.
    #[error("invalid state: {}", one_line(.0))]
    Inconsistent(String),
}

/// The organizations, environments, environment groups, proxy revisions and
/// deployments the emulator's change reports are computed from.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentState {
    /// Each organization by name.
    pub organizations: BTreeMap<String, Organization>,
}

/// One organization of a [`DeploymentState`].
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Organization {
    /// The environments.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Each environment group's environments.
    #[serde(default)]
    pub environment_groups: BTreeMap<String, Vec<String>>,
    /// Each API proxy's revisions, each with the base paths it claims.
    #[serde(default)]
    pub apis: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// What is deployed.
    #[serde(default)]
    pub deployments: Vec<Deployment>,
}

/// One deployed proxy revision.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// The environment it is deployed to.
    pub environment: String,
    /// The API proxy.
    pub api: String,
    /// The revision.
    pub revision: String,
}

/// A deploy or undeploy the report is about.
pub(crate) struct Target<'a> {
    pub(crate) org: &'a str,
    pub(crate) deployment: Deployment,
}

/// Reads state file JSON of the form `T` describes; a mismatch is a
/// [`StateError::Syntax`] with its JSON path.
pub(crate) fn read_state<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StateError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| StateError::Syntax {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

impl DeploymentState {
    /// Reads and checks a state file's text.
    pub fn from_json(text: &str) -> Result<Self, StateError> {
        let state: Self = read_state(text)?;
        state.check()?;
        Ok(state)
    }

    /// Checks that groups and deployments name what the state defines.
    pub(crate) fn check(&self) -> Result<(), StateError> {
        for (name, org) in &self.organizations {
            for (group, environments) in &org.environment_groups {
                for env in environments {
                    if !org.environments.contains(env) {
                        return Err(StateError::Inconsistent(format!(
                            "environment group {name}/{group} names an undefined environment {env}"
                        )));
                    }
                }
            }
            for d in &org.deployments {
                if !org.environments.contains(&d.environment)
                    || !org
                        .apis
                        .get(&d.api)
                        .is_some_and(|r| r.contains_key(&d.revision))
                {
                    return Err(StateError::Inconsistent(format!(
                        "deployment of {}/{} revision {} to {} refers to an undefined environment or revision",
                        name, d.api, d.revision, d.environment
                    )));
                }
            }
        }
        Ok(())
    }

    /// Parses `organizations/{org}/environments/{env}/apis/{api}/revisions/{rev}`.
    pub(crate) fn target(name: &str) -> Option<Target<'_>> {
        let parts: Vec<&str> = name.split('/').collect();
        match parts.as_slice() {
            [
                "organizations",
                org,
                "environments",
                env,
                "apis",
                api,
                "revisions",
                rev,
            ] if [org, env, api, rev].iter().all(|p| !p.is_empty()) => Some(Target {
                org,
                deployment: Deployment {
                    environment: (*env).to_owned(),
                    api: (*api).to_owned(),
                    revision: (*rev).to_owned(),
                },
            }),
            _ => None,
        }
    }
}

fn violation(kind: &str, subject: String, description: String) -> Violation {
    Violation {
        r#type: kind.to_owned(),
        subject,
        description,
        ..Default::default()
    }
}

/// Whether `prefix` is a base path that routes requests for `path`: equal, or
/// a prefix ending at a path-segment boundary.
fn routes(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    path == prefix
        || (path.starts_with(prefix) && path[prefix.len()..].starts_with('/'))
        || prefix.is_empty()
}

impl Organization {
    fn basepaths(&self, d: &Deployment) -> &[String] {
        self.apis
            .get(&d.api)
            .and_then(|revisions| revisions.get(&d.revision))
            .map_or(&[], Vec::as_slice)
    }

    fn groups_of<'a>(
        &'a self,
        environment: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Vec<String>)> {
        self.environment_groups
            .iter()
            .filter(move |(_, envs)| envs.iter().any(|e| e == environment))
    }

    fn routing(d: &Deployment, basepath: &str) -> RoutingDeployment {
        RoutingDeployment {
            api_proxy: d.api.clone(),
            basepath: basepath.to_owned(),
            environment: d.environment.clone(),
            revision: d.revision.clone(),
            ..Default::default()
        }
    }

    /// The claims (deployment, base path) in one group's environments.
    fn claims<'a>(
        &'a self,
        deployments: &'a [Deployment],
        group_envs: &'a [String],
    ) -> impl Iterator<Item = (&'a Deployment, &'a String)> {
        deployments
            .iter()
            .filter(move |d| group_envs.contains(&d.environment))
            .flat_map(move |d| self.basepaths(d).iter().map(move |b| (d, b)))
    }

    /// Which claim serves `path`: the longest routing base path.
    fn serving<'a>(
        &'a self,
        deployments: &'a [Deployment],
        group_envs: &'a [String],
        path: &str,
    ) -> Option<(&'a Deployment, &'a String)> {
        self.claims(deployments, group_envs)
            .filter(|(_, b)| routes(b, path))
            .max_by_key(|(_, b)| b.trim_end_matches('/').len())
    }

    /// The report of deploying `target` (with `override_` meaning other
    /// revisions of the proxy in the environment are replaced).
    pub(crate) fn deploy_report(
        &self,
        target: &Deployment,
        override_: bool,
    ) -> DeploymentChangeReport {
        let mut violations = Vec::new();
        let subject = format!("{}/revisions/{}", target.api, target.revision);
        if !self.environments.contains(&target.environment) {
            violations.push(violation(
                "missing-environment",
                target.environment.clone(),
                format!("Environment {} does not exist.", target.environment),
            ));
        }
        if !self
            .apis
            .get(&target.api)
            .is_some_and(|r| r.contains_key(&target.revision))
        {
            violations.push(violation(
                "missing-proxy-revision",
                subject.clone(),
                format!(
                    "Revision {} of API proxy {} does not exist.",
                    target.revision, target.api
                ),
            ));
        }
        let replaced: Vec<&Deployment> = self
            .deployments
            .iter()
            .filter(|d| {
                d.environment == target.environment
                    && d.api == target.api
                    && d.revision != target.revision
            })
            .collect();
        if !replaced.is_empty() && !override_ {
            violations.push(violation(
                "deployment-exists",
                subject,
                format!(
                    "Revision {} of {} is deployed in {}; deploy with override to replace it.",
                    replaced[0].revision, target.api, target.environment
                ),
            ));
        }
        if !violations.is_empty() {
            return DeploymentChangeReport {
                validation_errors: Some(PreconditionFailure {
                    violations,
                    ..Default::default()
                }),
                ..Default::default()
            };
        }

        // The deployments after the change, the target last.
        let before: Vec<Deployment> = self.deployments.clone();
        let after: Vec<Deployment> = before
            .iter()
            .filter(|d| !(d.environment == target.environment && d.api == target.api))
            .cloned()
            .collect();
        let already = before.contains(target);
        let mut report = DeploymentChangeReport::default();
        for (group, envs) in self.groups_of(&target.environment) {
            for basepath in self.basepaths(target) {
                // A base path claimed by another deployment that stays: the
                // new deployment gets no traffic there.
                if let Some((owner, _)) = self
                    .claims(&after, envs)
                    .find(|(_, b)| b.trim_end_matches('/') == basepath.trim_end_matches('/'))
                {
                    report.routing_conflicts.push(RoutingConflict {
                        conflicting_deployment: Some(Self::routing(owner, basepath)),
                        description: format!(
                            "Base path {basepath} is already claimed by {} revision {} in {}; the new deployment gets no traffic there.",
                            owner.api, owner.revision, owner.environment
                        ),
                        environment_group: group.clone(), ..Default::default()
                    });
                    continue;
                }
                if already {
                    continue;
                }
                // Who serves this base path now, and who will.
                let from = self.serving(&before, envs, basepath);
                if let Some((from, from_path)) = from {
                    let same_proxy_replaced =
                        from.api == target.api && from.environment == target.environment;
                    report.routing_changes.push(RoutingChange {
                        description: format!(
                            "Traffic on {basepath} moves from {} revision {} ({from_path}) to {} revision {}.",
                            from.api, from.revision, target.api, target.revision
                        ),
                        environment_group: group.clone(),
                        from_deployment: Some(Self::routing(from, from_path)),
                        should_sequence_rollout: same_proxy_replaced,
                        to_deployment: Some(Self::routing(target, basepath)), ..Default::default()
                    });
                }
            }
        }
        report
    }

    /// The report of undeploying `target`.
    pub(crate) fn undeploy_report(&self, target: &Deployment) -> DeploymentChangeReport {
        if !self.deployments.contains(target) {
            return DeploymentChangeReport {
                validation_errors: Some(PreconditionFailure {
                    violations: vec![violation(
                        "deployment-not-found",
                        format!("{}/revisions/{}", target.api, target.revision),
                        format!(
                            "Revision {} of {} is not deployed in {}.",
                            target.revision, target.api, target.environment
                        ),
                    )],
                    ..Default::default()
                }),
                ..Default::default()
            };
        }
        let after: Vec<Deployment> = self
            .deployments
            .iter()
            .filter(|d| *d != target)
            .cloned()
            .collect();
        let mut report = DeploymentChangeReport::default();
        for (group, envs) in self.groups_of(&target.environment) {
            for basepath in self.basepaths(target) {
                // Only traffic the target really served moves.
                let serving = self.serving(&self.deployments, envs, basepath);
                if serving.map(|(d, _)| d) != Some(target) {
                    continue;
                }
                let to = self.serving(&after, envs, basepath);
                report.routing_changes.push(RoutingChange {
                    description: match to {
                        Some((d, b)) => format!(
                            "Traffic on {basepath} moves from {} revision {} to {} revision {} ({b}).",
                            target.api, target.revision, d.api, d.revision
                        ),
                        None => format!(
                            "No deployment will receive traffic on {basepath} once {} revision {} is undeployed.",
                            target.api, target.revision
                        ),
                    },
                    environment_group: group.clone(),
                    from_deployment: Some(Self::routing(target, basepath)),
                    should_sequence_rollout: false,
                    to_deployment: to.map(|(d, b)| Self::routing(d, b)), ..Default::default()
                });
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_route_by_segments() {
        assert!(routes("/orders", "/orders"));
        assert!(routes("/orders", "/orders/v2"));
        assert!(!routes("/orders", "/ordersX"));
        assert!(routes("/", "/anything"));
        assert!(!routes("/orders/v2", "/orders"));
    }

    #[test]
    fn state_files_are_checked() {
        assert!(
            DeploymentState::from_json(
                r#"{"organizations": {"o": {"environmentGroups": {"g": ["nope"]}}}}"#
            )
            .is_err()
        );
        let err = DeploymentState::from_json(r#"{"organizations": {"o": {"environments": 3}}}"#)
            .unwrap_err();
        assert!(
            err.to_string().contains("organizations.o.environments"),
            "{err}"
        );
        assert!(DeploymentState::from_json(r#"{"organisations": {}}"#).is_err());
    }
}
