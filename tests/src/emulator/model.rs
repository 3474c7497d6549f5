//! The impairment model of one direction of a link: a pure state machine that decides, for
//! each packet, whether it is dropped, when it is released, and how many copies go out.
//!
//! Time is passed in (nanoseconds on any monotonic clock) and randomness comes from a seeded
//! generator, so the model is tested by tables, fast and deterministically; the forwarder
//! threads only apply its verdicts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The impairments of one direction of a link. Every field has a neutral default: the default
/// value forwards packets untouched.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Impairment {
    /// One-way delay added to every packet, in milliseconds.
    pub delay_ms: f64,
    /// Jitter: each packet's delay varies uniformly within ± this many milliseconds.
    pub jitter_ms: f64,
    /// Let jitter reorder packets (a packet may overtake an earlier one). When false, a packet
    /// is never released before the one sent before it.
    pub reorder: bool,
    /// Random (Bernoulli) loss, in percent.
    pub loss_percent: f64,
    /// Bursty loss (Gilbert–Elliott); applied instead of `loss_percent` when set.
    pub gilbert_elliott: Option<GilbertElliott>,
    /// Bottleneck rate in Mbit/s, counted on IP packet bytes. Absent: unlimited.
    pub rate_mbps: Option<f64>,
    /// The bottleneck's queue, in kilobytes (1000 bytes); packets arriving when it is full are
    /// dropped (tail drop). Only with `rate_mbps`. Default 64 kB.
    pub queue_kb: Option<f64>,
    /// Duplication probability, in percent.
    pub duplicate_percent: f64,
    /// Largest packet (IP bytes) the link carries.
    pub mtu: Option<u32>,
    /// What happens to a packet over `mtu`: an ICMP "fragmentation needed" / "packet too big"
    /// back to the sender (a well-behaved link), or silent loss (a PMTU black hole).
    pub mtu_mode: MtuMode,
    /// The link is down: every packet is lost.
    pub outage: bool,
}

/// Gilbert–Elliott bursty loss: a two-state Markov chain, evaluated per packet.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GilbertElliott {
    /// Probability (percent) of going from the good state to the bad one, per packet.
    pub p_good_to_bad: f64,
    /// Probability (percent) of going from the bad state back to the good one, per packet.
    pub p_bad_to_good: f64,
    /// Loss (percent) in the good state.
    #[serde(default)]
    pub loss_good: f64,
    /// Loss (percent) in the bad state.
    #[serde(default = "hundred")]
    pub loss_bad: f64,
}

fn hundred() -> f64 {
    100.0
}

/// What a link does with a packet over its MTU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MtuMode {
    /// Send ICMP "fragmentation needed" (v4) / "packet too big" (v6) back.
    #[default]
    Icmp,
    /// Drop silently: a PMTU black hole.
    Drop,
}

/// Default bottleneck queue when a rate is set without one.
pub const DEFAULT_QUEUE_BYTES: u64 = 64_000;

/// What to do with one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Drop it.
    Drop(DropReason),
    /// Deliver it (and `copies - 1` duplicates) at `release_ns`.
    Forward {
        /// When to write it out, on the caller's clock.
        release_ns: u64,
        /// How many copies (1, or 2 when duplicated).
        copies: u8,
    },
    /// Too big for the link: answer the sender with ICMP carrying this MTU.
    TooBig {
        /// The link's MTU.
        mtu: u32,
    },
}

/// Why a packet was dropped (counted per link).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Random or bursty loss.
    Loss,
    /// The bottleneck queue was full.
    QueueFull,
    /// Over the MTU, in black-hole mode.
    BlackHole,
    /// The link is in an outage.
    Outage,
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets offered to the link.
    pub packets: u64,
    /// Packets forwarded (not counting duplicates).
    pub forwarded: u64,
    /// Duplicates sent.
    pub duplicated: u64,
    /// Dropped by loss.
    pub lost: u64,
    /// Dropped by a full queue.
    pub queue_drops: u64,
    /// Over the MTU (answered with ICMP or dropped).
    pub too_big: u64,
    /// Dropped during an outage.
    pub outage_drops: u64,
}

/// The state of one direction: its impairments, the bottleneck's busy time, the loss chain's
/// state, and the random generator.
#[derive(Clone, Debug)]
pub struct Direction {
    impairment: Impairment,
    rng: SplitMix64,
    /// When the bottleneck finishes sending what it has queued.
    busy_until_ns: u64,
    /// Release time of the last forwarded packet (to keep order when not reordering).
    last_release_ns: u64,
    in_bad_state: bool,
    counters: Counters,
}

impl Direction {
    /// A direction with these impairments, its randomness seeded with `seed`.
    pub fn new(impairment: Impairment, seed: u64) -> Self {
        Self {
            impairment,
            rng: SplitMix64(seed),
            busy_until_ns: 0,
            last_release_ns: 0,
            in_bad_state: false,
            counters: Counters::default(),
        }
    }

    /// The current impairments.
    pub fn impairment(&self) -> &Impairment {
        &self.impairment
    }

    /// Replaces the impairments (the queue's content and the loss state carry over).
    pub fn set_impairment(&mut self, impairment: Impairment) {
        self.impairment = impairment;
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Whether this direction needs no delay line at all (packets go straight through).
    pub fn is_passthrough(&self) -> bool {
        let i = &self.impairment;
        i.delay_ms == 0.0 && i.jitter_ms == 0.0 && i.rate_mbps.is_none()
    }

    /// Decides the fate of a packet of `len` IP bytes arriving at `now_ns`.
    pub fn on_packet(&mut self, now_ns: u64, len: usize) -> Verdict {
        self.counters.packets += 1;
        let imp = &self.impairment;
        if imp.outage {
            self.counters.outage_drops += 1;
            return Verdict::Drop(DropReason::Outage);
        }
        if let Some(mtu) = imp.mtu.filter(|mtu| len > *mtu as usize) {
            self.counters.too_big += 1;
            return match imp.mtu_mode {
                MtuMode::Icmp => Verdict::TooBig { mtu },
                MtuMode::Drop => Verdict::Drop(DropReason::BlackHole),
            };
        }
        if self.lose() {
            self.counters.lost += 1;
            return Verdict::Drop(DropReason::Loss);
        }
        let imp = &self.impairment;
        let mut departure_ns = now_ns;
        if let Some(rate) = imp.rate_mbps.filter(|r| *r > 0.0) {
            let queue = imp.queue_kb.map_or(DEFAULT_QUEUE_BYTES, |kb| (kb * 1000.0) as u64);
            let backlog_ns = self.busy_until_ns.saturating_sub(now_ns);
            let backlog_bytes = (backlog_ns as f64 * rate / 8000.0) as u64; // Mbit/s = bits/µs
            if backlog_bytes + len as u64 > queue && backlog_ns > 0 {
                self.counters.queue_drops += 1;
                return Verdict::Drop(DropReason::QueueFull);
            }
            let start = self.busy_until_ns.max(now_ns);
            self.busy_until_ns = start + (len as f64 * 8000.0 / rate) as u64;
            departure_ns = self.busy_until_ns;
        }
        let jitter_ns = if imp.jitter_ms > 0.0 {
            (self.rng.uniform(-1.0, 1.0) * imp.jitter_ms * 1e6) as i64
        } else {
            0
        };
        let delay_ns = ((imp.delay_ms * 1e6) as i64 + jitter_ns).max(0) as u64;
        let mut release_ns = departure_ns + delay_ns;
        if !imp.reorder {
            release_ns = release_ns.max(self.last_release_ns);
        }
        self.last_release_ns = self.last_release_ns.max(release_ns);
        let copies = if imp.duplicate_percent > 0.0 && self.rng.chance(imp.duplicate_percent) {
            2
        } else {
            1
        };
        self.counters.forwarded += 1;
        self.counters.duplicated += u64::from(copies - 1);
        Verdict::Forward { release_ns, copies }
    }

    fn lose(&mut self) -> bool {
        match self.impairment.gilbert_elliott {
            Some(ge) => {
                // Move the chain first, then lose with the new state's probability.
                let flip = if self.in_bad_state {
                    ge.p_bad_to_good
                } else {
                    ge.p_good_to_bad
                };
                if self.rng.chance(flip) {
                    self.in_bad_state = !self.in_bad_state;
                }
                let p = if self.in_bad_state { ge.loss_bad } else { ge.loss_good };
                self.rng.chance(p)
            }
            None => self.impairment.loss_percent > 0.0 && self.rng.chance(self.impairment.loss_percent),
        }
    }
}

impl Impairment {
    /// The one-way delay as a duration.
    pub fn delay(&self) -> Duration {
        Duration::from_secs_f64(self.delay_ms.max(0.0) / 1000.0)
    }
}

/// A small, fast, seedable generator (SplitMix64): good enough for loss decisions, and
/// reproducible from a scenario's seed.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `percent` %.
    pub fn chance(&mut self, percent: f64) -> bool {
        self.unit() * 100.0 < percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn forward(v: Verdict) -> (u64, u8) {
        match v {
            Verdict::Forward { release_ns, copies } => (release_ns, copies),
            other => panic!("expected forward, got {other:?}"),
        }
    }

    #[test]
    fn default_is_a_passthrough() {
        let mut d = Direction::new(Impairment::default(), 1);
        assert!(d.is_passthrough());
        assert_eq!(
            d.on_packet(5 * MS, 1500),
            Verdict::Forward {
                release_ns: 5 * MS,
                copies: 1
            }
        );
    }

    #[test]
    fn delay_is_added_exactly() {
        let mut d = Direction::new(
            Impairment {
                delay_ms: 25.0,
                ..Impairment::default()
            },
            1,
        );
        assert_eq!(forward(d.on_packet(10 * MS, 100)).0, 35 * MS);
    }

    #[test]
    fn jitter_without_reordering_keeps_order_and_bounds() {
        let imp = Impairment {
            delay_ms: 20.0,
            jitter_ms: 5.0,
            ..Impairment::default()
        };
        let mut d = Direction::new(imp, 7);
        let mut last = 0;
        for i in 0..10_000u64 {
            let now = i * MS / 10; // 10 packets per ms: far denser than the jitter
            let (release, _) = forward(d.on_packet(now, 100));
            assert!(release >= last, "packet {i} overtook its predecessor");
            assert!(release <= now + 25 * MS);
            last = release;
        }
    }

    #[test]
    fn jitter_with_reordering_reorders_and_stays_within_bounds() {
        let imp = Impairment {
            delay_ms: 20.0,
            jitter_ms: 5.0,
            reorder: true,
            ..Impairment::default()
        };
        let mut d = Direction::new(imp, 7);
        let mut overtakes = 0;
        let mut last = 0;
        for i in 0..10_000u64 {
            let now = i * MS / 10;
            let (release, _) = forward(d.on_packet(now, 100));
            assert!((now + 15 * MS..=now + 25 * MS).contains(&release));
            if release < last {
                overtakes += 1;
            }
            last = release;
        }
        assert!(overtakes > 1000, "{overtakes}");
    }

    #[test]
    fn random_loss_is_within_three_sigma() {
        let mut d = Direction::new(
            Impairment {
                loss_percent: 5.0,
                ..Impairment::default()
            },
            42,
        );
        let n = 100_000;
        let lost = (0..n)
            .filter(|i| matches!(d.on_packet(*i, 100), Verdict::Drop(DropReason::Loss)))
            .count();
        let (p, n) = (0.05, n as f64);
        let sigma = (n * p * (1.0 - p)).sqrt();
        assert!(((lost as f64) - n * p).abs() < 3.0 * sigma, "{lost}");
        assert_eq!(d.counters().lost, lost as u64);
    }

    #[test]
    fn gilbert_elliott_loses_in_bursts_at_its_stationary_rate() {
        // Stationary bad-state share = p_gb / (p_gb + p_bg) = 1/(1+19) = 5 %; mean burst 1/p_bg = 5.
        let ge = GilbertElliott {
            p_good_to_bad: 1.0,
            p_bad_to_good: 20.0,
            loss_good: 0.0,
            loss_bad: 100.0,
        };
        let mut d = Direction::new(
            Impairment {
                gilbert_elliott: Some(ge),
                ..Impairment::default()
            },
            3,
        );
        let outcomes: Vec<bool> = (0..200_000)
            .map(|i| matches!(d.on_packet(i, 100), Verdict::Drop(_)))
            .collect();
        let lost = outcomes.iter().filter(|l| **l).count() as f64 / outcomes.len() as f64;
        assert!((lost - 0.0476).abs() < 0.005, "loss {lost}");
        let bursts = outcomes.windows(2).filter(|w| !w[0] && w[1]).count() as f64;
        let mean_burst = outcomes.iter().filter(|l| **l).count() as f64 / bursts;
        assert!((mean_burst - 5.0).abs() < 0.5, "mean burst {mean_burst}");
    }

    #[test]
    fn rate_limit_serialises_packets_and_tail_drops_past_the_queue() {
        // 8 Mbit/s = 1 byte/µs: a 1000-byte packet takes 1 ms. Queue 3 kB.
        let imp = Impairment {
            rate_mbps: Some(8.0),
            queue_kb: Some(3.0),
            ..Impairment::default()
        };
        let mut d = Direction::new(imp, 1);
        let releases: Vec<Verdict> = (0..5).map(|_| d.on_packet(0, 1000)).collect();
        assert_eq!(forward(releases[0]).0, MS);
        assert_eq!(forward(releases[1]).0, 2 * MS);
        assert_eq!(forward(releases[2]).0, 3 * MS);
        assert_eq!(releases[3], Verdict::Drop(DropReason::QueueFull));
        // Once the queue drains, packets pass again.
        assert_eq!(forward(d.on_packet(3 * MS, 1000)).0, 4 * MS);
        assert_eq!(d.counters().queue_drops, 2);
    }

    #[test]
    fn a_full_queue_adds_queue_over_rate_of_delay() {
        // The bufferbloat ground truth: a standing queue of L bytes at rate R adds 8·L/R.
        let imp = Impairment {
            rate_mbps: Some(20.0),
            queue_kb: Some(256.0),
            ..Impairment::default()
        };
        let mut d = Direction::new(imp, 1);
        let mut worst = 0;
        for i in 0..1000u64 {
            let now = i * 100_000; // offered at 120 Mbit/s: six times the rate
            if let Verdict::Forward { release_ns, .. } = d.on_packet(now, 1500) {
                worst = worst.max(release_ns - now);
            }
        }
        let expected = 256_000.0 * 8.0 / 20.0 * 1000.0; // ns
        assert!(
            (worst as f64 - expected).abs() / expected < 0.01,
            "{worst} vs {expected}"
        );
    }

    #[test]
    fn mtu_answers_icmp_or_black_holes() {
        let mut d = Direction::new(
            Impairment {
                mtu: Some(1400),
                ..Impairment::default()
            },
            1,
        );
        assert_eq!(d.on_packet(0, 1500), Verdict::TooBig { mtu: 1400 });
        assert!(matches!(d.on_packet(0, 1400), Verdict::Forward { .. }));
        d.set_impairment(Impairment {
            mtu: Some(1400),
            mtu_mode: MtuMode::Drop,
            ..Impairment::default()
        });
        assert_eq!(d.on_packet(0, 1500), Verdict::Drop(DropReason::BlackHole));
    }

    #[test]
    fn outage_drops_everything_and_duplication_copies() {
        let mut d = Direction::new(
            Impairment {
                outage: true,
                ..Impairment::default()
            },
            1,
        );
        assert_eq!(d.on_packet(0, 100), Verdict::Drop(DropReason::Outage));
        d.set_impairment(Impairment {
            duplicate_percent: 100.0,
            ..Impairment::default()
        });
        assert_eq!(forward(d.on_packet(0, 100)).1, 2);
    }

    #[test]
    fn impairments_parse_from_kebab_case_toml() {
        let imp: Impairment = toml::from_str(
            "delay-ms = 25\njitter-ms = 2\nloss-percent = 5\nrate-mbps = 20\nqueue-kb = 256\nmtu = 1400\nmtu-mode = \"drop\"\n\
             [gilbert-elliott]\np-good-to-bad = 1\np-bad-to-good = 20\n",
        )
        .expect("parses");
        assert_eq!(imp.rate_mbps, Some(20.0));
        assert_eq!(imp.mtu_mode, MtuMode::Drop);
        assert_eq!(imp.gilbert_elliott.map(|g| g.loss_bad), Some(100.0));
        assert!(
            toml::from_str::<Impairment>("delay = 3").is_err(),
            "unknown keys are refused"
        );
    }
}
