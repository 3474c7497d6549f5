//! The userspace link emulator: each emulated link is a pair of TUN devices, one in each
//! namespace, joined by forwarder threads that apply the link's impairments per direction
//! (see [`model`]).
//!
//! This host class has no `sch_netem`, so delay, jitter, loss, duplication, reordering, MTU and
//! outages happen here; the rate limit with its finite byte queue too, so latency under load
//! grows like a real bloated buffer.

mod forwarder;
mod icmp;
pub mod model;
mod tun;

pub use forwarder::{EmulatedLink, LinkStats};
pub use model::{Counters, GilbertElliott, Impairment, MtuMode};
pub use tun::Tun;
