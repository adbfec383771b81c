// SPDX-License-Identifier: MPL-2.0
//! What `lockstep live` does while it runs, and when: a branch failure and its recovery, an
//! encoder update on air. From `--fail-at`, `--recover-after`, `--update-at`, or a scenario
//! file (JSON):
//!
//! ```json
//! { "events": [
//!     { "at": 12, "action": "fail",    "branch": "a" },
//!     { "at": 22, "action": "recover", "branch": "a" },
//!     { "at": 30, "action": "update",  "encoder": "x264enc tune=zerolatency bitrate=3000" }
//! ] }
//! ```
//!
//! `at` is seconds after the first frame. `branch` is `a` or `b` (the two encoder branches);
//! `update` replaces the encoder of the branch on air (or of `branch` when given) through
//! `handoverbin`, with `encoder` or, without it, the update encoder of the command line.

use std::path::Path;

use serde::Deserialize;

/// One of the two redundant encoder branches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Branch {
    A,
    B,
}

impl Branch {
    pub fn name(self) -> &'static str {
        match self {
            Branch::A => "a",
            Branch::B => "b",
        }
    }

    /// The pad of the output switch this branch feeds.
    pub fn switch_pad(self) -> &'static str {
        match self {
            Branch::A => "sink_0",
            Branch::B => "sink_1",
        }
    }
}

/// What happens at a moment of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The branch stops delivering, from its next keyframe (as a planned failover test does:
    /// a cut between keyframes would lose the frames up to the backup's next keyframe).
    Fail(Branch),
    /// The branch delivers again.
    Recover(Branch),
    /// The encoder of a branch (the one on air when `None`) is replaced on air.
    Update {
        branch: Option<Branch>,
        encoder: Option<String>,
    },
}

/// A timed action.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Seconds after the first frame.
    pub at: f64,
    pub action: Action,
}

/// The run's steps, in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schedule {
    pub steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    events: Vec<ScenarioEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioEvent {
    at: f64,
    action: String,
    #[serde(default)]
    branch: Option<Branch>,
    #[serde(default)]
    encoder: Option<String>,
}

impl Schedule {
    /// From the command line: a failure of branch a at `fail_at` and its recovery
    /// `recover_after` later, an update at `update_at`; `None` leaves that step out.
    pub fn from_options(
        fail_at: Option<f64>,
        recover_after: Option<f64>,
        update_at: Option<f64>,
    ) -> Result<Schedule, String> {
        let mut steps = Vec::new();
        if let Some(at) = fail_at {
            check_time("--fail-at", at)?;
            steps.push(Step {
                at,
                action: Action::Fail(Branch::A),
            });
            if let Some(after) = recover_after {
                check_time("--recover-after", after)?;
                steps.push(Step {
                    at: at + after,
                    action: Action::Recover(Branch::A),
                });
            }
        }
        if let Some(at) = update_at {
            check_time("--update-at", at)?;
            steps.push(Step {
                at,
                action: Action::Update {
                    branch: None,
                    encoder: None,
                },
            });
        }
        steps.sort_by(|a, b| a.at.total_cmp(&b.at));
        Ok(Schedule { steps })
    }

    /// From a scenario file (the module documentation gives the format).
    pub fn from_file(path: &Path) -> Result<Schedule, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the scenario {}: {e}", path.display()))?;
        Self::from_json(&text).map_err(|e| format!("scenario {}: {e}", path.display()))
    }

    pub fn from_json(text: &str) -> Result<Schedule, String> {
        let file: ScenarioFile = serde_json::from_str(text).map_err(|e| {
            format!("{e}; expected {{\"events\": [{{\"at\": 12, \"action\": \"fail\", \"branch\": \"a\"}}, …]}}")
        })?;
        let mut steps = Vec::new();
        for (index, event) in file.events.into_iter().enumerate() {
            check_time(&format!("event {index} 'at'"), event.at)?;
            let action = match event.action.as_str() {
                "fail" => Action::Fail(event.branch.ok_or_else(|| {
                    format!("event {index}: 'fail' needs a branch (\"a\" or \"b\")")
                })?),
                "recover" => Action::Recover(event.branch.ok_or_else(|| {
                    format!("event {index}: 'recover' needs a branch (\"a\" or \"b\")")
                })?),
                "update" => Action::Update {
                    branch: event.branch,
                    encoder: event.encoder,
                },
                other => {
                    return Err(format!(
                        "event {index}: unknown action '{other}' (fail, recover or update)"
                    ));
                }
            };
            steps.push(Step {
                at: event.at,
                action,
            });
        }
        steps.sort_by(|a, b| a.at.total_cmp(&b.at));
        Ok(Schedule { steps })
    }
}

fn check_time(what: &str, seconds: f64) -> Result<(), String> {
    if seconds.is_finite() && seconds >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{what} must be a number of seconds ≥ 0, not {seconds}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_give_failure_recovery_and_update_in_order() {
        let schedule = Schedule::from_options(Some(12.0), Some(10.0), Some(15.0)).unwrap();
        let times: Vec<f64> = schedule.steps.iter().map(|s| s.at).collect();
        assert_eq!(times, [12.0, 15.0, 22.0]);
        assert_eq!(schedule.steps[0].action, Action::Fail(Branch::A));
        assert_eq!(schedule.steps[2].action, Action::Recover(Branch::A));
        assert!(Schedule::from_options(Some(-1.0), None, None).is_err());
        assert!(
            Schedule::from_options(None, None, None)
                .unwrap()
                .steps
                .is_empty()
        );
    }

    #[test]
    fn scenario_files_are_checked() {
        let schedule = Schedule::from_json(
            r#"{"events": [{"at": 5, "action": "update", "encoder": "x264enc"},
                           {"at": 1, "action": "fail", "branch": "b"}]}"#,
        )
        .unwrap();
        assert_eq!(schedule.steps[0].action, Action::Fail(Branch::B));
        assert_eq!(
            schedule.steps[1].action,
            Action::Update {
                branch: None,
                encoder: Some("x264enc".into())
            }
        );
        for bad in [
            "",
            "{}",
            r#"{"events": [{"at": 1, "action": "fail"}]}"#,
            r#"{"events": [{"at": 1, "action": "explode", "branch": "a"}]}"#,
            r#"{"events": [{"at": -3, "action": "fail", "branch": "a"}]}"#,
            r#"{"events": [{"at": 1, "action": "fail", "branch": "c"}]}"#,
            r#"{"events": [], "extra": 1}"#,
        ] {
            assert!(Schedule::from_json(bad).is_err(), "{bad}");
        }
    }
}
