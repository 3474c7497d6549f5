//! The ETA a person sees: the agent's estimate, smoothed so that it never jumps backwards.
//!
//! The rule: between two updates `elapsed` ms apart, the shown ETA may fall freely (down to the
//! agent's estimate) but may rise by at most half of `elapsed`. A countdown that was at 10 s
//! therefore never shows more than 10 s again one second later: when the agent revises its
//! estimate upwards, the shown value slows down (it falls by at least half a second per second)
//! instead of jumping up. Time is passed in, so the rule is tested by tables.

/// The smoothing state of one run's ETA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EtaClamp {
    /// The last shown ETA and when it was shown, both in ms (`now` is any monotonic clock).
    last: Option<(u64, u64)>,
}

impl EtaClamp {
    /// The ETA to show at `now_ms` for the agent's estimate `estimate_ms`.
    pub fn update(&mut self, now_ms: u64, estimate_ms: u64) -> u64 {
        let shown = match self.last {
            None => estimate_ms,
            Some((at, shown)) => {
                let elapsed = now_ms.saturating_sub(at);
                estimate_ms.min(shown.saturating_add(elapsed / 2))
            }
        };
        self.last = Some((now_ms, shown));
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_eta_falls_freely_and_rises_slower_than_time_passes() {
        // (now, agent's estimate, shown)
        let table = [
            (0, 10_000, 10_000),
            (1_000, 9_000, 9_000),
            (2_000, 4_000, 4_000),  // falls freely
            (3_000, 12_000, 4_500), // the agent revised upwards: rise by at most half of 1 s
            (3_000, 12_000, 4_500), // no time passed: no rise at all
            (5_000, 12_000, 5_500),
            (6_000, 1_000, 1_000),
        ];
        let mut eta = EtaClamp::default();
        let mut previous: Option<(u64, u64)> = None;
        for (now, estimate, expected) in table {
            let shown = eta.update(now, estimate);
            assert_eq!(shown, expected, "at {now} ms for an estimate of {estimate} ms");
            if let Some((then, before)) = previous {
                // The finish time shown (now + ETA) may move later, but the number itself never
                // grows by as much as the time that passed.
                assert!(shown <= before + (now - then) / 2, "{before} → {shown}");
            }
            previous = Some((now, shown));
        }
    }
}
