//! The window guard: refuse a fill that would replay too old or too much.
//!
//! Owns the rule orchestrator users know as `SlaveBinLogEnableMaxLagSeconds`: when the
//! successor lags the dead master by more than the window, replaying the gap onto it now would
//! write stale changes over whatever the application did since, so the fill refuses (exit code
//! 3) and says by how much. Size caps bound how long the outage is stretched. `--force`
//! skips the guard; the refusal text says so.

use std::time::Duration;

use super::plan::GapPlan;

/// Limits a gap must fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WindowGuard {
    pub max_lag: Duration,
    pub max_transactions: Option<u64>,
    pub max_bytes: Option<u64>,
}

/// Why the guard refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize)]
pub enum Refusal {
    #[error(
        "the oldest missing transaction ({gtid}) committed {lag_s:.1} s before the last captured \
         one, beyond the {window_s} s window (SlaveBinLogEnableMaxLagSeconds / --max-lag); \
         refusing to replay stale changes (--force overrides)"
    )]
    TooOld {
        gtid: String,
        lag_s: f64,
        window_s: u64,
    },
    #[error(
        "the gap holds {n} transactions, over the --max-transactions limit {max} (--force overrides)"
    )]
    TooManyTransactions { n: u64, max: u64 },
    #[error(
        "the gap holds {n} bytes of binlog, over the --max-bytes limit {max} (--force overrides)"
    )]
    TooManyBytes { n: u64, max: u64 },
}

impl WindowGuard {
    pub fn check(&self, plan: &GapPlan) -> Result<(), Refusal> {
        if let Some(lag) = plan.lag_seconds()
            && lag > self.max_lag.as_secs_f64()
        {
            return Err(Refusal::TooOld {
                gtid: plan
                    .first_gtid
                    .clone()
                    .unwrap_or_else(|| "(no GTID)".into()),
                lag_s: lag,
                window_s: self.max_lag.as_secs(),
            });
        }
        if let Some(max) = self.max_transactions
            && plan.transactions > max
        {
            return Err(Refusal::TooManyTransactions {
                n: plan.transactions,
                max,
            });
        }
        if let Some(max) = self.max_bytes
            && plan.bytes > max
        {
            return Err(Refusal::TooManyBytes { n: plan.bytes, max });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(oldest: u64, last: u64, n: u64, bytes: u64) -> GapPlan {
        GapPlan {
            transactions: n,
            bytes,
            first_gtid: Some("u:5".into()),
            oldest_commit_us: Some(oldest),
            last_captured_us: Some(last),
            ..GapPlan::default()
        }
    }

    #[test]
    fn refuses_beyond_the_window_and_the_caps() {
        let g = WindowGuard {
            max_lag: Duration::from_secs(300),
            max_transactions: Some(1000),
            max_bytes: Some(1 << 20),
        };
        assert_eq!(g.check(&plan(0, 300_000_000, 10, 10)), Ok(()));
        assert!(matches!(
            g.check(&plan(0, 300_000_001, 10, 10)),
            Err(Refusal::TooOld { window_s: 300, .. })
        ));
        assert!(matches!(
            g.check(&plan(0, 1, 1001, 10)),
            Err(Refusal::TooManyTransactions { n: 1001, max: 1000 })
        ));
        assert!(matches!(
            g.check(&plan(0, 1, 1, (1 << 20) + 1)),
            Err(Refusal::TooManyBytes { .. })
        ));
        // An empty gap passes.
        assert_eq!(g.check(&GapPlan::default()), Ok(()));
    }
}
