//! A mobile modem (a 4G/5G router) that answers Modbus TCP, as the `mobile` check reads one:
//! registration, operator, radio technology, signal (RSSI, RSRP, RSRQ, SINR), temperature,
//! uptime and data counters, laid out by a vendor's [`RegisterMap`], with the faults a real
//! modem shows (exceptions, silence, garbage) and the remediation writes the mobile flow makes
//! (reconnect the data session, reboot).
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use sonde_netsim::Netns;
//! use sonde_netsim::peers::modbus::{self, Mode, ModemState, RegisterMap, Registration};
//!
//! let ns = Netns::new("modem")?;
//! ns.ip(&["addr", "add", "192.0.2.5/32", "dev", "lo"])?;
//! let state = ModemState { rssi_dbm: -71, ..ModemState::default() };
//! let modem = modbus::spawn(&ns, "192.0.2.5:502".parse()?, RegisterMap::teltonika_rutos(), state, Mode::Normal)?;
//! // … a client reads holding registers from inside `ns` …
//! modem.set_state(ModemState { registration: Registration::Searching, ..modem.state() });
//! modem.set_mode(Mode::Exception(4));
//! # Ok(()) }
//! ```
//!
//! # In a scenario file
//!
//! [`Config`] is the peer's table (the scenario wiring adds where it runs):
//!
//! ```toml
//! [peers.modem]
//! map = "teltonika-rutos"        # or "generic-lte"
//! word-order = "abcd"            # or "cdab"; default "abcd"
//! address-offset = 0             # or 1; default 0
//! mode = "normal"                # see `Mode`
//! [peers.modem.state]            # see `ModemState`; every key optional
//! rssi-dbm = -71
//! registration = "home"
//! rat = "4g"
//! operator = "Orange F"
//! temperature-c = 41.5
//! ```
//!
//! # The wire
//!
//! The server is tokio-modbus's TCP server with this module's service behind it. It answers any
//! unit id (as RutOS does with device ID 0). Function codes: 3 (read holding registers) and 4
//! (read input registers) read the same map; 1 (read coils), 5, 6, 15 and 16 (writes) reach
//! the map's [actions](Action); anything else gets exception 1 (illegal function).
//!
//! A read must start where a field starts and end where a field ends (it may cover several
//! adjacent fields); anything else — an unmapped register, half of a 32-bit value — gets
//! exception 2 (illegal data address). A Teltonika RUT950 is reported to do the same for half
//! a value (Industrial Monitor Direct, "Teltonika RUT950 Modbus TCP register addressing fix"),
//! and it makes an off-by-one client (the "register 1 or address 0" confusion) fail loudly
//! instead of reading a wrong number. A count of 0 or above 125 gets exception 3.
//!
//! The state is encoded on every read, so [`Handle::set_state`] shows at once; the uptime
//! advances with the clock from the value last set.

use std::fmt;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_modbus::bytes::Bytes;
use tokio_modbus::server::tcp::Server;
use tokio_modbus::{ExceptionCode, Request, Response};

use super::PeerThread;
use crate::Netns;

/// How the modem answers.
///
/// In a scenario TOML file, a unit mode is a string and a mode with a value is a one-key table:
///
/// ```toml
/// mode = "normal"            # answer from the register map
/// mode = { exception = 4 }   # every request gets this Modbus exception code (4: server failure)
/// mode = "drop"              # accept, read requests, never answer
/// mode = "garbage"           # answer every request with a malformed PDU
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Answer from the register map.
    #[default]
    Normal,
    /// Every request gets an exception response with this code: 2 (illegal data address),
    /// 4 (server device failure), 6 (server busy), 11 (gateway target failed to respond)…
    Exception(u8),
    /// Requests are counted and never answered: a modem whose Modbus daemon hangs.
    Drop,
    /// Every request gets a well-framed answer (right transaction id, length and function
    /// code) whose PDU body is malformed: a byte count that does not match what follows.
    Garbage,
}

/// What the simulated modem reports; every field has a default, so a scenario sets only the
/// ones it cares about.
///
/// In a scenario TOML file (kebab-case):
///
/// ```toml
/// [peers.modem.state]
/// rssi-dbm = -71               # dBm
/// rsrp-dbm = -95               # dBm (LTE/NR)
/// rsrq-db = -10.5              # dB, shown in 0.1 dB where a map has it
/// sinr-db = 13.0               # dB, shown in 0.1 dB where a map has it
/// registration = "home"        # home | roaming | searching | denied | not-registered
/// rat = "4g"                   # 2g | 3g | 4g | 5g
/// operator = "Orange F"        # at most 32 ASCII characters are shown
/// temperature-c = 41.5         # °C, shown in 0.1 °C
/// uptime-s = 3600              # at the moment the state is set; advances with time
/// rx-bytes = 123456789         # mobile data received today (on the active SIM)
/// tx-bytes = 9876543           # mobile data sent today (on the active SIM)
/// sim-slot = 1                 # active SIM slot, 1 or 2
/// stale-data-session = false   # the data session is up but carries nothing until reconnected
/// stale-data-session-persists = false  # reconnects and reboots do not clear it (operator fault)
/// ```
///
/// Values that a map's encoding cannot hold are saturated (e.g. `rx-bytes` above 2³²−1 shows
/// as 4294967295 in a 32-bit register).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct ModemState {
    /// Received signal strength, dBm.
    pub rssi_dbm: i32,
    /// LTE/NR reference signal received power, dBm.
    pub rsrp_dbm: i32,
    /// LTE/NR reference signal received quality, dB.
    pub rsrq_db: f64,
    /// Signal to interference and noise ratio, dB.
    pub sinr_db: f64,
    /// Network registration.
    pub registration: Registration,
    /// Radio access technology in use.
    pub rat: Rat,
    /// Operator name as the modem shows it.
    pub operator: String,
    /// Modem temperature, °C.
    pub temperature_c: f64,
    /// Seconds since the modem started, at the moment this state was set.
    pub uptime_s: u64,
    /// Mobile data received today on the active SIM, bytes.
    pub rx_bytes: u64,
    /// Mobile data sent today on the active SIM, bytes.
    pub tx_bytes: u64,
    /// Active SIM slot (1 or 2).
    pub sim_slot: u8,
    /// The data session is up but broken (nothing gets through) until a reconnect or a reboot
    /// action clears this. Not shown in any register: the scenario's link reflects it, and a
    /// re-test after the remediation sees the difference.
    pub stale_data_session: bool,
    /// Reconnects and reboots do not clear `stale_data_session`: the fault is in the operator's
    /// network, and the mobile flow must end "not restored".
    pub stale_data_session_persists: bool,
}

impl Default for ModemState {
    /// A healthy modem on 4G at home: signal good by 3GPP ranges, one hour up.
    fn default() -> Self {
        Self {
            rssi_dbm: -65,
            rsrp_dbm: -90,
            rsrq_db: -9.0,
            sinr_db: 15.0,
            registration: Registration::Home,
            rat: Rat::G4,
            operator: "Orange F".to_owned(),
            temperature_c: 40.0,
            uptime_s: 3600,
            rx_bytes: 0,
            tx_bytes: 0,
            sim_slot: 1,
            stale_data_session: false,
            stale_data_session_persists: false,
        }
    }
}

/// Network registration, as 3GPP TS 27.007 `+CREG`/`+CEREG` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Registration {
    /// Registered on the home network.
    Home,
    /// Registered on a visited network.
    Roaming,
    /// Not registered, searching for an operator.
    Searching,
    /// Registration denied.
    Denied,
    /// Not registered and not searching.
    NotRegistered,
}

impl Registration {
    /// The `<stat>` code of 3GPP TS 27.007 `+CREG`/`+CEREG`: 0 not registered, 1 home,
    /// 2 searching, 3 denied, 5 roaming.
    pub fn code(self) -> u16 {
        match self {
            Self::NotRegistered => 0,
            Self::Home => 1,
            Self::Searching => 2,
            Self::Denied => 3,
            Self::Roaming => 5,
        }
    }
}

/// Radio access technology (generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rat {
    /// GSM/GPRS/EDGE.
    #[serde(rename = "2g")]
    G2,
    /// UMTS/HSPA.
    #[serde(rename = "3g")]
    G3,
    /// LTE.
    #[serde(rename = "4g")]
    G4,
    /// NR.
    #[serde(rename = "5g")]
    G5,
}

impl Rat {
    /// The generation as a number: 2, 3, 4 or 5.
    pub fn generation(self) -> u16 {
        match self {
            Self::G2 => 2,
            Self::G3 => 3,
            Self::G4 => 4,
            Self::G5 => 5,
        }
    }
}

/// The modem peer's table in a scenario file; see the [module](self) documentation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// Which built-in register map the modem exposes.
    pub map: MapName,
    /// Word order of 32-bit values.
    #[serde(default)]
    pub word_order: WordOrder,
    /// Added to every address of the map.
    #[serde(default)]
    pub address_offset: AddressOffset,
    /// How the modem answers at start.
    #[serde(default)]
    pub mode: Mode,
    /// What the modem reports at start.
    #[serde(default)]
    pub state: ModemState,
}

impl Config {
    /// The register map this configuration describes.
    pub fn register_map(&self) -> RegisterMap {
        RegisterMap::builtin(self.map)
            .with_word_order(self.word_order)
            .with_address_offset(self.address_offset)
    }
}

/// The built-in register maps, by the name scenario files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapName {
    /// [`RegisterMap::teltonika_rutos`].
    TeltonikaRutos,
    /// [`RegisterMap::generic_lte`].
    GenericLte,
}

/// Order of the two 16-bit words of a 32-bit value. Bytes within a word are always big-endian,
/// as Modbus sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordOrder {
    /// High word first (the Modbus norm; pymodbus `word_order="big"`).
    #[default]
    Abcd,
    /// Low word first ("word-swapped"; pymodbus `word_order="little"`).
    Cdab,
}

/// Added to every address of a map: 0 when the vendor's table gives addresses as sent on the
/// wire, 1 when it gives 1-based "register numbers" that a device takes literally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "u16")]
pub struct AddressOffset(u16);

impl AddressOffset {
    /// The offset, 0 or 1.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for AddressOffset {
    type Error = String;

    fn try_from(offset: u16) -> Result<Self, Self::Error> {
        match offset {
            0 | 1 => Ok(Self(offset)),
            other => Err(format!("address-offset must be 0 or 1, not {other}")),
        }
    }
}

/// How a field's value is laid out in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// One register, unsigned.
    U16,
    /// One register, two's complement.
    I16,
    /// Two registers, unsigned, in the map's word order.
    U32,
    /// Two registers, two's complement, in the map's word order.
    I32,
    /// This many registers of ASCII text, two characters per register (the first in the high
    /// byte), padded with NUL; longer text is cut, non-ASCII characters are shown as `?`.
    String(u16),
}

/// A field's value before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A number (scaled to the field's unit already).
    Int(i64),
    /// Text.
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Text(s) => f.write_str(s),
        }
    }
}

impl Encoding {
    /// How many registers the encoding takes.
    pub fn words(self) -> u16 {
        match self {
            Self::U16 | Self::I16 => 1,
            Self::U32 | Self::I32 => 2,
            Self::String(words) => words,
        }
    }

    /// The registers that show `value`. Numbers out of range saturate; text in a numeric
    /// encoding shows as 0 and a number in a text encoding as its decimal digits.
    pub fn encode(self, value: &Value, order: WordOrder) -> Vec<u16> {
        let number = match value {
            Value::Int(n) => *n,
            Value::Text(_) => 0,
        };
        match self {
            Self::U16 => vec![saturate(number, u16::MIN, u16::MAX)],
            // Two's complement: the register holds the i16's bits.
            Self::I16 => vec![u16::from_be_bytes(saturate(number, i16::MIN, i16::MAX).to_be_bytes())],
            Self::U32 => split(saturate(number, u32::MIN, u32::MAX), order),
            Self::I32 => split(
                u32::from_be_bytes(saturate(number, i32::MIN, i32::MAX).to_be_bytes()),
                order,
            ),
            Self::String(words) => {
                let text = match value {
                    Value::Int(n) => n.to_string(),
                    Value::Text(s) => s.clone(),
                };
                let mut bytes: Vec<u8> = text
                    .chars()
                    .map(|c| u8::try_from(c).ok().filter(u8::is_ascii).unwrap_or(b'?'))
                    .take(usize::from(words) * 2)
                    .collect();
                bytes.resize(usize::from(words) * 2, 0);
                bytes
                    .chunks_exact(2)
                    .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                    .collect()
            }
        }
    }

    /// The value that `words` show, or `None` when there are not exactly
    /// [`words()`](Self::words) of them. Text stops at the first NUL.
    pub fn decode(self, words: &[u16], order: WordOrder) -> Option<Value> {
        if words.len() != usize::from(self.words()) {
            return None;
        }
        let value = match (self, words) {
            (Self::U16, [w]) => Value::Int(i64::from(*w)),
            (Self::I16, [w]) => Value::Int(i64::from(i16::from_be_bytes(w.to_be_bytes()))),
            (Self::U32, [a, b]) => Value::Int(i64::from(join(*a, *b, order))),
            (Self::I32, [a, b]) => Value::Int(i64::from(i32::from_be_bytes(join(*a, *b, order).to_be_bytes()))),
            (Self::String(_), words) => {
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Value::Text(String::from_utf8_lossy(&bytes[..end]).into_owned())
            }
            _ => return None,
        };
        Some(value)
    }
}

/// What a field shows of the [`ModemState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Seconds since the modem started.
    UptimeS,
    /// RSSI, dBm.
    RssiDbm,
    /// RSRP, dBm.
    RsrpDbm,
    /// RSRQ in 0.1 dB.
    RsrqDeciDb,
    /// SINR in 0.1 dB.
    SinrDeciDb,
    /// Temperature in 0.1 °C.
    TemperatureDeciC,
    /// The operator's name.
    Operator,
    /// Registration as 3GPP TS 27.007 `<stat>` ([`Registration::code`]).
    RegistrationCode,
    /// Registration as RutOS words it ([`registration_text`]).
    RegistrationText,
    /// Radio technology as its generation, 2–5 ([`Rat::generation`]).
    RatGeneration,
    /// Radio technology as RutOS names it ([`rat_text`]).
    RatText,
    /// Active SIM slot, 1 or 2.
    SimSlot,
    /// Active SIM slot as text, `sim1` or `sim2`.
    SimSlotText,
    /// Mobile data received today on the active SIM, bytes.
    RxBytes,
    /// Mobile data sent today on the active SIM, bytes.
    TxBytes,
    /// Mobile data received today on this SIM slot (0 unless it is the active one), bytes.
    RxBytesSim(u8),
    /// Mobile data sent today on this SIM slot (0 unless it is the active one), bytes.
    TxBytesSim(u8),
    /// Fixed text that the simulation does not script (a hostname, a serial number).
    Fixed(&'static str),
}

impl Source {
    /// The value this source shows for `state`.
    pub fn value(self, state: &ModemState) -> Value {
        let active_sim = |sim: u8, bytes: u64| if state.sim_slot == sim { bytes } else { 0 };
        match self {
            Self::UptimeS => int(state.uptime_s),
            Self::RssiDbm => Value::Int(i64::from(state.rssi_dbm)),
            Self::RsrpDbm => Value::Int(i64::from(state.rsrp_dbm)),
            Self::RsrqDeciDb => tenths(state.rsrq_db),
            Self::SinrDeciDb => tenths(state.sinr_db),
            Self::TemperatureDeciC => tenths(state.temperature_c),
            Self::Operator => Value::Text(state.operator.clone()),
            Self::RegistrationCode => Value::Int(i64::from(state.registration.code())),
            Self::RegistrationText => Value::Text(registration_text(state.registration).to_owned()),
            Self::RatGeneration => Value::Int(i64::from(state.rat.generation())),
            Self::RatText => Value::Text(rat_text(state.rat).to_owned()),
            Self::SimSlot => Value::Int(i64::from(state.sim_slot)),
            Self::SimSlotText => Value::Text(format!("sim{}", state.sim_slot)),
            Self::RxBytes => int(state.rx_bytes),
            Self::TxBytes => int(state.tx_bytes),
            Self::RxBytesSim(sim) => int(active_sim(sim, state.rx_bytes)),
            Self::TxBytesSim(sim) => int(active_sim(sim, state.tx_bytes)),
            Self::Fixed(text) => Value::Text(text.to_owned()),
        }
    }
}

/// Registration as the RutOS "Network registration info" register words it (the text of
/// `gsmctl -g`). Unconfirmed against a device: the wording comes from RutOS's command-line
/// tool as remembered, not from a table the wiki publishes.
pub fn registration_text(registration: Registration) -> &'static str {
    match registration {
        Registration::Home => "Registered, home",
        Registration::Roaming => "Registered, roaming",
        Registration::Searching => "Searching",
        Registration::Denied => "Denied",
        Registration::NotRegistered => "Not registered",
    }
}

/// Radio technology as the RutOS "Network type" register names it (the text of `gsmctl -t`):
/// `GSM`, `WCDMA`, `LTE`; `5G-NSA` for 5G is an assumption (a device may say `5G-SA`).
pub fn rat_text(rat: Rat) -> &'static str {
    match rat {
        Rat::G2 => "GSM",
        Rat::G3 => "WCDMA",
        Rat::G4 => "LTE",
        Rat::G5 => "5G-NSA",
    }
}

/// A named value of the modem at a map address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Kebab-case name, unique in its map.
    pub name: &'static str,
    /// First register, before the map's address offset.
    pub address: u16,
    /// Layout in registers.
    pub encoding: Encoding,
    /// What it shows.
    pub source: Source,
}

/// A write that the modem takes as a command (a remediation action).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// Kebab-case name, recorded in [`Handle::actions`] each time the action is triggered.
    pub name: &'static str,
    /// The write that triggers it.
    pub trigger: Trigger,
    /// What it does to the modem's state.
    pub effect: Effect,
}

/// The write that triggers an [`Action`]; addresses are before the map's address offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Writing ON to this coil (function 5 or 15). Writing OFF is accepted and does nothing.
    Coil(u16),
    /// Writing this value to this holding register (function 6 or 16). Other values written
    /// to the register get exception 3 (illegal data value) unless another action takes them.
    Register {
        /// The register.
        address: u16,
        /// The value that triggers the action.
        value: u16,
    },
}

/// What an [`Action`] does to the modem's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Only recorded.
    None,
    /// The data session is re-established: clears `stale-data-session`.
    ReconnectDataSession,
    /// The modem restarts: clears `stale-data-session` and restarts the uptime from 0.
    Reboot,
}

/// Why a read was refused; each maps to a Modbus exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// A register in the range is not mapped, or the range cuts a field: exception 2.
    IllegalDataAddress,
    /// A count of 0 or above 125: exception 3.
    IllegalQuantity,
}

impl ReadError {
    /// The Modbus exception a client sees.
    pub fn exception(self) -> ExceptionCode {
        match self {
            Self::IllegalDataAddress => ExceptionCode::IllegalDataAddress,
            Self::IllegalQuantity => ExceptionCode::IllegalDataValue,
        }
    }
}

/// Largest count of one register read (Modbus application protocol, function 3 and 4).
pub const MAX_READ_REGISTERS: u16 = 125;

/// Largest count of one coil read (Modbus application protocol, function 1).
const MAX_READ_COILS: u16 = 2000;

/// A vendor's layout of the modem's values in registers, with its word order and address
/// offset, and the writes it takes as commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterMap {
    name: &'static str,
    fields: Vec<Field>,
    actions: Vec<Action>,
    word_order: WordOrder,
    address_offset: u16,
}

impl RegisterMap {
    /// A built-in map by name.
    pub fn builtin(name: MapName) -> Self {
        match name {
            MapName::TeltonikaRutos => Self::teltonika_rutos(),
            MapName::GenericLte => Self::generic_lte(),
        }
    }

    /// Teltonika routers on RutOS (RUTX11, RUT241, RUTM50, TRB140…): the Modbus TCP server's
    /// "Get parameters" table, holding registers, addresses as sent on the wire.
    ///
    /// Sources, as read for this simulator (search excerpts, not whole pages):
    /// - the Teltonika Networks wiki template "Networking rutos manual modbus modbus tcp get
    ///   parameters table" (revision of 15 July 2020), which gives each value a *register
    ///   address* (on the wire) and a *register number* (address + 1): system uptime at
    ///   address 1 (number 2), 2 registers, u32; hostname 7, serial number 39, LAN MAC 55,
    ///   router name 71, 16 registers of text each;
    /// - a copy of the same RutOS table ("Modbus Get và Set Parameters trên Router Teltonika",
    ///   cnttshop.vn): "Mobile signal strength (RSSI in dBm)" at address 3, i32; "System
    ///   temperature (in 0.1 °C)" at 5, i32; "GSM operator name" 23, "Currently active SIM
    ///   card slot" 87, "Network registration info" 103, "Network type" 119, text;
    /// - the RUT955 wiki page of the RUT9xx firmware (2018 revision), which lists the same
    ///   values at the same numbers as "register number", and "Switch mobile data connection
    ///   (ON/OFF)" at 211, values 1/0, in its "Set parameters";
    /// - third-party integrations of the table: an IP-Symcon module for the RUT955 ("Mobile
    ///   data received/sent today SIM1" at 0xB9/0xBB = 185/187, SIM2 at 0x12C/0x12E = 300/302,
    ///   "Active SIM card" at 0xCD = 205, one register) and a Teltonika firmware test script
    ///   (representations: 32-bit unsigned counters, 16-bit SIM number; the temperature is
    ///   `gsmctl -c`, the modem's; the SIM slot text is `sim1`/`sim2`).
    ///
    /// The counters are in bytes (RutOS's default "Mobile data type"). The third-party
    /// integration notes (mbmap-library) agree that the address column is what goes on the
    /// wire, so this map's default offset is 0.
    ///
    /// Not confirmed from any source read here, and so assumptions of this simulator:
    /// - the word order of 32-bit values (the wiki gives none; integrations assume big-endian,
    ///   which is this map's default);
    /// - the texts of the registration and network-type registers ([`registration_text`],
    ///   [`rat_text`]);
    /// - the RutOS address of the mobile-data switch (211 is the RUT9xx one), and "Reboot" at
    ///   206 (value 1), recalled from the RutOS "Set parameters" table and not seen in a
    ///   source. Writing 0 to 211 is the action `mobile-data-off`; writing 1 is
    ///   `mobile-data-on`, which re-establishes the data session.
    ///
    /// There is no RSRP, RSRQ or SINR in this map.
    pub fn teltonika_rutos() -> Self {
        use Encoding::{I32, String as Text, U16, U32};
        let fields = vec![
            field("uptime", 1, U32, Source::UptimeS),
            field("rssi", 3, I32, Source::RssiDbm),
            field("temperature", 5, I32, Source::TemperatureDeciC),
            field("hostname", 7, Text(16), Source::Fixed("Teltonika-RUTX11.com")),
            field("operator", 23, Text(16), Source::Operator),
            field("serial", 39, Text(16), Source::Fixed("1100000000")),
            field("lan-mac", 55, Text(16), Source::Fixed("00:1E:42:00:00:01")),
            field("router-name", 71, Text(16), Source::Fixed("RUTX11")),
            field("sim-slot-name", 87, Text(16), Source::SimSlotText),
            field("registration", 103, Text(16), Source::RegistrationText),
            field("network-type", 119, Text(16), Source::RatText),
            field("rx-today-sim1", 185, U32, Source::RxBytesSim(1)),
            field("tx-today-sim1", 187, U32, Source::TxBytesSim(1)),
            field("active-sim", 205, U16, Source::SimSlot),
            field("rx-today-sim2", 300, U32, Source::RxBytesSim(2)),
            field("tx-today-sim2", 302, U32, Source::TxBytesSim(2)),
        ];
        let actions = vec![
            action(
                "mobile-data-off",
                Trigger::Register { address: 211, value: 0 },
                Effect::None,
            ),
            action(
                "mobile-data-on",
                Trigger::Register { address: 211, value: 1 },
                Effect::ReconnectDataSession,
            ),
            action("reboot", Trigger::Register { address: 206, value: 1 }, Effect::Reboot),
        ];
        Self::new("teltonika-rutos", fields, actions)
    }

    /// **Not a vendor's map**: a compact layout defined by this simulator for modems whose map
    /// carries LTE RSRP/RSRQ/SINR, since no vendor's complete map could be found.
    ///
    /// The closest real one found is AMIT's IOG761 cellular gateway (user manual, "Integrated
    /// Modbus Slave"): function 3, one register per value — service type (0=2G, 2=3G, 7=LTE),
    /// CS/PS registration and roaming flags, RSSI, RSRP and RSRQ at addresses 10–21 — but no
    /// SINR, operator or temperature, no 5G, and no documented sign or scale for the signal
    /// values. This map keeps its one-register-per-value style and fills the gaps:
    ///
    /// | address | field | encoding | unit |
    /// | --- | --- | --- | --- |
    /// | 0 | `registration` | u16 | 3GPP TS 27.007 `<stat>` ([`Registration::code`]) |
    /// | 1 | `rat` | u16 | generation: 2, 3, 4, 5 |
    /// | 2 | `rssi` | i16 | dBm |
    /// | 3 | `rsrp` | i16 | dBm |
    /// | 4 | `rsrq` | i16 | 0.1 dB |
    /// | 5 | `sinr` | i16 | 0.1 dB |
    /// | 6 | `temperature` | i16 | 0.1 °C |
    /// | 7 | `sim-slot` | u16 | 1 or 2 |
    /// | 8 | `uptime` | u32 | s |
    /// | 10 | `rx-bytes` | u32 | bytes today |
    /// | 12 | `tx-bytes` | u32 | bytes today |
    /// | 14 | `operator` | 16 registers of text | |
    ///
    /// Actions are coils: ON to coil 0 is `reconnect` (re-establishes the data session), ON
    /// to coil 1 is `reboot`.
    pub fn generic_lte() -> Self {
        use Encoding::{I16, String as Text, U16, U32};
        let fields = vec![
            field("registration", 0, U16, Source::RegistrationCode),
            field("rat", 1, U16, Source::RatGeneration),
            field("rssi", 2, I16, Source::RssiDbm),
            field("rsrp", 3, I16, Source::RsrpDbm),
            field("rsrq", 4, I16, Source::RsrqDeciDb),
            field("sinr", 5, I16, Source::SinrDeciDb),
            field("temperature", 6, I16, Source::TemperatureDeciC),
            field("sim-slot", 7, U16, Source::SimSlot),
            field("uptime", 8, U32, Source::UptimeS),
            field("rx-bytes", 10, U32, Source::RxBytes),
            field("tx-bytes", 12, U32, Source::TxBytes),
            field("operator", 14, Text(16), Source::Operator),
        ];
        let actions = vec![
            action("reconnect", Trigger::Coil(0), Effect::ReconnectDataSession),
            action("reboot", Trigger::Coil(1), Effect::Reboot),
        ];
        Self::new("generic-lte", fields, actions)
    }

    fn new(name: &'static str, mut fields: Vec<Field>, actions: Vec<Action>) -> Self {
        fields.sort_by_key(|f| f.address);
        Self {
            name,
            fields,
            actions,
            word_order: WordOrder::default(),
            address_offset: 0,
        }
    }

    /// The same map with 32-bit values in `order`.
    #[must_use]
    pub fn with_word_order(mut self, order: WordOrder) -> Self {
        self.word_order = order;
        self
    }

    /// The same map with every address (fields and actions) moved by `offset`.
    #[must_use]
    pub fn with_address_offset(mut self, offset: AddressOffset) -> Self {
        self.address_offset = offset.get();
        self
    }

    /// The map's name (`teltonika-rutos`, `generic-lte`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Word order of 32-bit values.
    pub fn word_order(&self) -> WordOrder {
        self.word_order
    }

    /// Added to every address on the wire.
    pub fn address_offset(&self) -> u16 {
        self.address_offset
    }

    /// The fields, by address.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The actions.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Where `field` starts on the wire (its address plus the map's offset).
    pub fn wire_address(&self, field: &Field) -> u16 {
        field.address.saturating_add(self.address_offset)
    }

    /// The registers that show `field` for `state`, in this map's word order.
    pub fn encode_field(&self, field: &Field, state: &ModemState) -> Vec<u16> {
        field.encoding.encode(&field.source.value(state), self.word_order)
    }

    /// The value that `words` (read at `field`'s address) show, in this map's word order.
    pub fn decode_field(&self, field: &Field, words: &[u16]) -> Option<Value> {
        field.encoding.decode(words, self.word_order)
    }

    /// The `count` registers from wire address `start` for `state`. The range must start and
    /// end on field boundaries, with no unmapped register between.
    pub fn read(&self, state: &ModemState, start: u16, count: u16) -> Result<Vec<u16>, ReadError> {
        if count == 0 || count > MAX_READ_REGISTERS {
            return Err(ReadError::IllegalQuantity);
        }
        let end = u32::from(start) + u32::from(count);
        let mut words = Vec::with_capacity(usize::from(count));
        let mut at = u32::from(start);
        while at < end {
            let field = self
                .fields
                .iter()
                .find(|f| u32::from(f.address) + u32::from(self.address_offset) == at)
                .ok_or(ReadError::IllegalDataAddress)?;
            words.extend(self.encode_field(field, state));
            at += u32::from(field.encoding.words());
        }
        if at == end {
            Ok(words)
        } else {
            Err(ReadError::IllegalDataAddress) // The last field goes past the range.
        }
    }

    fn coil_action(&self, wire_address: u32) -> Option<&Action> {
        self.actions.iter().find(|a| match a.trigger {
            Trigger::Coil(address) => u32::from(address) + u32::from(self.address_offset) == wire_address,
            Trigger::Register { .. } => false,
        })
    }

    /// The action that writing `value` to register `wire_address` triggers: `Err` with
    /// exception 2 when no action uses the register, 3 when none takes that value.
    fn register_action(&self, wire_address: u32, value: u16) -> Result<&Action, ExceptionCode> {
        let mut on_register = self.actions.iter().filter(|a| match a.trigger {
            Trigger::Register { address, .. } => u32::from(address) + u32::from(self.address_offset) == wire_address,
            Trigger::Coil(_) => false,
        });
        let mut any = false;
        for action in on_register.by_ref() {
            any = true;
            if matches!(action.trigger, Trigger::Register { value: v, .. } if v == value) {
                return Ok(action);
            }
        }
        Err(if any {
            ExceptionCode::IllegalDataValue
        } else {
            ExceptionCode::IllegalDataAddress
        })
    }
}

/// A running modem peer; dropping it stops the server and closes its sockets.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    modem: Arc<Modem>,
    // Last: dropped (stopped and joined) after the rest.
    _thread: PeerThread,
}

impl Handle {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The register map it serves.
    pub fn map(&self) -> &RegisterMap {
        &self.modem.map
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *lock(&self.modem.mode)
    }

    /// Changes how the modem answers from the next request on.
    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.modem.mode) = mode;
    }

    /// What the modem reports now (with the uptime advanced to now).
    pub fn state(&self) -> ModemState {
        lock(&self.modem.live).now(Instant::now())
    }

    /// Changes what the modem reports from the next read on; the uptime advances from
    /// `state.uptime_s`.
    pub fn set_state(&self, state: ModemState) {
        *lock(&self.modem.live) = Live::new(state, Instant::now());
        self.modem.notify_data_session();
    }

    /// Calls `observer` now and whenever the state or an action may have changed whether the
    /// data session carries traffic (`false` while `stale-data-session` holds). The network
    /// ties its access link to it, so a stale session really stops traffic.
    pub fn on_data_session(&self, observer: impl Fn(bool) + Send + Sync + 'static) {
        *lock(&self.modem.data_session) = Some(Box::new(observer));
        self.modem.notify_data_session();
    }

    /// How many Modbus requests arrived, in any mode (unanswered ones too).
    pub fn requests(&self) -> u64 {
        self.modem.requests.load(Ordering::Relaxed)
    }

    /// The names of the actions triggered so far, oldest first.
    pub fn actions(&self) -> Vec<String> {
        lock(&self.modem.actions).clone()
    }
}

/// Starts a Modbus TCP modem on `addr` inside `ns`, serving `map` with `state` in `mode`.
/// Returns once the socket listens; a bind error (address not in the namespace, port taken)
/// is the `Err`.
pub fn spawn(ns: &Netns, addr: SocketAddr, map: RegisterMap, state: ModemState, mode: Mode) -> anyhow::Result<Handle> {
    let modem = Arc::new(Modem {
        map,
        mode: Mutex::new(mode),
        live: Mutex::new(Live::new(state, Instant::now())),
        actions: Mutex::new(Vec::new()),
        requests: AtomicU64::new(0),
        data_session: Mutex::new(None),
    });
    let served = modem.clone();
    let bind = move || {
        let listener = std::net::TcpListener::bind(addr).with_context(|| format!("bind TCP {addr}"))?;
        listener.set_nonblocking(true).context("non-blocking socket")?;
        let listener = TcpListener::from_std(listener).context("register the socket with tokio")?;
        let local = listener.local_addr().context("local address")?;
        Ok((listener, local))
    };
    let (thread, addr) = PeerThread::spawn(ns, "modbus", bind, move |listener| serve(listener, served))?;
    Ok(Handle {
        addr,
        modem,
        _thread: thread,
    })
}

/// Malformed for every function code the modem takes: as a read answer, an odd byte count
/// (7) followed by 2 bytes; as a write answer, 3 bytes where 4 are due.
const GARBAGE: &[u8] = &[0x07, 0xDE, 0xAD];

/// The modem's state, shared by the handle and the connections.
struct Modem {
    map: RegisterMap,
    mode: Mutex<Mode>,
    live: Mutex<Live>,
    actions: Mutex<Vec<String>>,
    requests: AtomicU64,
    data_session: Mutex<Option<DataSessionObserver>>,
}

/// Told whether the data session carries traffic, each time that may have changed.
type DataSessionObserver = Box<dyn Fn(bool) + Send + Sync>;

impl fmt::Debug for Modem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Modem").field("map", &self.map).finish_non_exhaustive()
    }
}

/// The scripted state and when it was set (the uptime counts from then).
#[derive(Debug)]
struct Live {
    state: ModemState,
    set_at: Instant,
}

impl Live {
    fn new(state: ModemState, set_at: Instant) -> Self {
        Self { state, set_at }
    }

    fn now(&self, now: Instant) -> ModemState {
        let elapsed = now.saturating_duration_since(self.set_at).as_secs();
        ModemState {
            uptime_s: self.state.uptime_s.saturating_add(elapsed),
            ..self.state.clone()
        }
    }

    fn apply(&mut self, effect: Effect, now: Instant) {
        match effect {
            Effect::None => {}
            Effect::ReconnectDataSession => {
                self.state.stale_data_session &= self.state.stale_data_session_persists;
            }
            Effect::Reboot => {
                self.state.stale_data_session &= self.state.stale_data_session_persists;
                self.state.uptime_s = 0;
                self.set_at = now;
            }
        }
    }
}

impl Modem {
    /// The answer to one request in the current mode: `Ok(None)` sends nothing.
    fn respond(&self, request: &Request<'_>, now: Instant) -> Result<Option<Response>, ExceptionCode> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match *lock(&self.mode) {
            Mode::Normal => self.answer(request, now).map(Some),
            Mode::Exception(code) => Err(ExceptionCode::new(code)),
            Mode::Drop => Ok(None),
            Mode::Garbage => Ok(Some(Response::Custom(
                request.function_code().value(),
                Bytes::from_static(GARBAGE),
            ))),
        }
    }

    /// The answer from the register map.
    fn answer(&self, request: &Request<'_>, now: Instant) -> Result<Response, ExceptionCode> {
        let map = &self.map;
        match request {
            Request::ReadHoldingRegisters(start, count) => {
                let state = lock(&self.live).now(now);
                map.read(&state, *start, *count)
                    .map(Response::ReadHoldingRegisters)
                    .map_err(ReadError::exception)
            }
            Request::ReadInputRegisters(start, count) => {
                let state = lock(&self.live).now(now);
                map.read(&state, *start, *count)
                    .map(Response::ReadInputRegisters)
                    .map_err(ReadError::exception)
            }
            Request::ReadCoils(start, count) => {
                if *count == 0 || *count > MAX_READ_COILS {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                // Command coils are momentary: they always read OFF.
                let all_mapped = (0..*count).all(|i| map.coil_action(u32::from(*start) + u32::from(i)).is_some());
                if !all_mapped {
                    return Err(ExceptionCode::IllegalDataAddress);
                }
                Ok(Response::ReadCoils(vec![false; usize::from(*count)]))
            }
            Request::WriteSingleCoil(address, on) => {
                self.write_coils(*address, &[*on], now)?;
                Ok(Response::WriteSingleCoil(*address, *on))
            }
            Request::WriteMultipleCoils(address, coils) => {
                self.write_coils(*address, coils, now)?;
                Ok(Response::WriteMultipleCoils(*address, quantity(coils.len())))
            }
            Request::WriteSingleRegister(address, value) => {
                self.write_registers(*address, &[*value], now)?;
                Ok(Response::WriteSingleRegister(*address, *value))
            }
            Request::WriteMultipleRegisters(address, values) => {
                self.write_registers(*address, values, now)?;
                Ok(Response::WriteMultipleRegisters(*address, quantity(values.len())))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }

    /// Checks every coil first, so that a refused write triggers nothing.
    fn write_coils(&self, start: u16, coils: &[bool], now: Instant) -> Result<(), ExceptionCode> {
        let mut triggered = Vec::new();
        for (at, on) in (u32::from(start)..).zip(coils) {
            let action = self.map.coil_action(at).ok_or(ExceptionCode::IllegalDataAddress)?;
            if *on {
                triggered.push(action);
            }
        }
        self.trigger(&triggered, now);
        Ok(())
    }

    /// Checks every register first, so that a refused write triggers nothing.
    fn write_registers(&self, start: u16, values: &[u16], now: Instant) -> Result<(), ExceptionCode> {
        let triggered = (u32::from(start)..)
            .zip(values)
            .map(|(at, value)| self.map.register_action(at, *value))
            .collect::<Result<Vec<_>, _>>()?;
        self.trigger(&triggered, now);
        Ok(())
    }

    fn trigger(&self, actions: &[&Action], now: Instant) {
        {
            let mut live = lock(&self.live);
            let mut log = lock(&self.actions);
            for action in actions {
                live.apply(action.effect, now);
                log.push(action.name.to_owned());
            }
        }
        if !actions.is_empty() {
            self.notify_data_session();
        }
    }

    fn notify_data_session(&self) {
        let carrying = !lock(&self.live).state.stale_data_session;
        if let Some(observer) = lock(&self.data_session).as_ref() {
            observer(carrying);
        }
    }
}

/// One connection's view of the modem, as tokio-modbus's server calls it.
#[derive(Debug, Clone)]
struct ModemService(Arc<Modem>);

impl tokio_modbus::server::Service for ModemService {
    type Request = Request<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        ready(self.0.respond(&request, Instant::now()))
    }
}

async fn serve(listener: TcpListener, modem: Arc<Modem>) {
    let server = Server::new(listener);
    let on_connected = |stream, _peer| {
        let service = ModemService(modem.clone());
        async move { Ok(Some((service, stream))) }
    };
    loop {
        // `serve` returns only when accepting fails (e.g. out of file descriptors), which is
        // not fatal: keep serving, after a pause so that a persistent error cannot spin.
        let _ = server.serve(&on_connected, |_error| {}).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn field(name: &'static str, address: u16, encoding: Encoding, source: Source) -> Field {
    Field {
        name,
        address,
        encoding,
        source,
    }
}

fn action(name: &'static str, trigger: Trigger, effect: Effect) -> Action {
    Action { name, trigger, effect }
}

/// A lock that a panicked holder did not poison for good: the data are plain values, valid
/// whatever happened.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The count echoed by a multiple write; tokio-modbus decoded at most 0xFFFF items.
fn quantity(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// `n` as a `T`, or the bound it passed.
fn saturate<T: TryFrom<i64>>(n: i64, min: T, max: T) -> T {
    T::try_from(n).unwrap_or(if n < 0 { min } else { max })
}

fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `x` in tenths, rounded to the nearest (`as` saturates at the i64 bounds, NaN gives 0).
fn tenths(x: f64) -> Value {
    Value::Int((x * 10.0).round() as i64)
}

fn split(n: u32, order: WordOrder) -> Vec<u16> {
    let [a, b, c, d] = n.to_be_bytes();
    let (high, low) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
    match order {
        WordOrder::Abcd => vec![high, low],
        WordOrder::Cdab => vec![low, high],
    }
}

fn join(first: u16, second: u16, order: WordOrder) -> u32 {
    let (high, low) = match order {
        WordOrder::Abcd => (first, second),
        WordOrder::Cdab => (second, first),
    };
    (u32::from(high) << 16) | u32::from(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_encode_and_decode_in_both_word_orders() {
        use Encoding::*;
        use WordOrder::*;
        let cases: &[(Encoding, WordOrder, i64, &[u16])] = &[
            (U16, Abcd, 0, &[0x0000]),
            (U16, Abcd, 65535, &[0xFFFF]),
            (U16, Cdab, 1, &[0x0001]), // one word: word order does not apply
            (I16, Abcd, -71, &[0xFFB9]),
            (I16, Cdab, -71, &[0xFFB9]),
            (I16, Abcd, 415, &[0x019F]),
            (I16, Abcd, -32768, &[0x8000]),
            (U32, Abcd, 100_000, &[0x0001, 0x86A0]),
            (U32, Cdab, 100_000, &[0x86A0, 0x0001]),
            (U32, Abcd, 4_294_967_295, &[0xFFFF, 0xFFFF]),
            (I32, Abcd, -71, &[0xFFFF, 0xFFB9]),
            (I32, Cdab, -71, &[0xFFB9, 0xFFFF]),
            (I32, Abcd, 415, &[0x0000, 0x019F]),
            (I32, Cdab, 415, &[0x019F, 0x0000]),
            (I32, Abcd, -2_147_483_648, &[0x8000, 0x0000]),
            (I32, Cdab, 305_419_896, &[0x5678, 0x1234]),
        ];
        for &(encoding, order, n, words) in cases {
            assert_eq!(
                encoding.encode(&Value::Int(n), order),
                words,
                "{encoding:?} {order:?} {n}"
            );
            assert_eq!(
                encoding.decode(words, order),
                Some(Value::Int(n)),
                "{encoding:?} {order:?} {words:04X?}"
            );
        }
    }

    #[test]
    fn numbers_out_of_range_saturate() {
        use Encoding::*;
        let order = WordOrder::Abcd;
        assert_eq!(U16.encode(&Value::Int(-5), order), [0]);
        assert_eq!(U16.encode(&Value::Int(70_000), order), [0xFFFF]);
        assert_eq!(I16.encode(&Value::Int(-40_000), order), [0x8000]);
        assert_eq!(U32.encode(&Value::Int(5_000_000_000), order), [0xFFFF, 0xFFFF]);
        assert_eq!(I32.encode(&Value::Int(i64::MAX), order), [0x7FFF, 0xFFFF]);
    }

    #[test]
    fn strings_take_two_ascii_characters_per_word_padded_with_nul() {
        let order = WordOrder::Cdab; // irrelevant to text
        let text = |s: &str| Value::Text(s.to_owned());
        assert_eq!(
            Encoding::String(4).encode(&text("Orange F"), order),
            [0x4F72, 0x616E, 0x6765, 0x2046] // "Or" "an" "ge" " F"
        );
        assert_eq!(
            Encoding::String(3).encode(&text("LTE"), order),
            [0x4C54, 0x4500, 0x0000]
        );
        assert_eq!(Encoding::String(2).encode(&text("Bouygues"), order), [0x426F, 0x7579]);
        assert_eq!(Encoding::String(2).encode(&text("Télé"), order), [0x543F, 0x6C3F]);
        assert_eq!(
            Encoding::String(3).decode(&[0x4C54, 0x4500, 0x0000], order),
            Some(text("LTE"))
        );
        assert_eq!(Encoding::String(16).encode(&text(""), order), [0; 16]);
        assert_eq!(Encoding::String(2).decode(&[0, 0], order), Some(text("")));
    }

    #[test]
    fn decoding_the_wrong_number_of_words_gives_nothing() {
        assert_eq!(Encoding::U32.decode(&[1], WordOrder::Abcd), None);
        assert_eq!(Encoding::I16.decode(&[1, 2], WordOrder::Abcd), None);
        assert_eq!(Encoding::String(16).decode(&[0; 15], WordOrder::Abcd), None);
    }

    fn known_state() -> ModemState {
        ModemState {
            rssi_dbm: -71,
            rsrp_dbm: -101,
            rsrq_db: -11.5,
            sinr_db: 7.2,
            registration: Registration::Roaming,
            rat: Rat::G4,
            operator: "Orange F".to_owned(),
            temperature_c: 41.5,
            uptime_s: 90_061,
            rx_bytes: 123_456_789,
            tx_bytes: 9_876_543,
            sim_slot: 1,
            stale_data_session: false,
            stale_data_session_persists: false,
        }
    }

    /// Reads each field alone, at its wire address, and decodes it.
    fn decoded(map: &RegisterMap, state: &ModemState) -> Vec<(&'static str, String)> {
        map.fields()
            .iter()
            .map(|f| {
                let words = map
                    .read(state, map.wire_address(f), f.encoding.words())
                    .unwrap_or_else(|e| panic!("{} reads: {e:?}", f.name));
                let value = map.decode_field(f, &words).expect("decodes");
                (f.name, value.to_string())
            })
            .collect()
    }

    #[test]
    fn teltonika_map_shows_a_known_state() {
        for order in [WordOrder::Abcd, WordOrder::Cdab] {
            for offset in [0, 1] {
                let map = RegisterMap::teltonika_rutos()
                    .with_word_order(order)
                    .with_address_offset(AddressOffset(offset));
                assert_eq!(
                    decoded(&map, &known_state()),
                    [
                        ("uptime", "90061"),
                        ("rssi", "-71"),
                        ("temperature", "415"),
                        ("hostname", "Teltonika-RUTX11.com"),
                        ("operator", "Orange F"),
                        ("serial", "1100000000"),
                        ("lan-mac", "00:1E:42:00:00:01"),
                        ("router-name", "RUTX11"),
                        ("sim-slot-name", "sim1"),
                        ("registration", "Registered, roaming"),
                        ("network-type", "LTE"),
                        ("rx-today-sim1", "123456789"),
                        ("tx-today-sim1", "9876543"),
                        ("active-sim", "1"),
                        ("rx-today-sim2", "0"),
                        ("tx-today-sim2", "0"),
                    ]
                    .map(|(name, value)| (name, value.to_owned())),
                    "{order:?}, offset {offset}"
                );
            }
        }
    }

    #[test]
    fn teltonika_counters_follow_the_active_sim() {
        let map = RegisterMap::teltonika_rutos();
        let state = ModemState {
            sim_slot: 2,
            ..known_state()
        };
        let words = |name| {
            let f = map.field(name).expect("field");
            map.read(&state, map.wire_address(f), 2).expect("read")
        };
        assert_eq!(words("rx-today-sim1"), [0, 0]);
        assert_eq!(words("rx-today-sim2"), [0x075B, 0xCD15]); // 123456789
        assert_eq!(words("tx-today-sim2"), [0x0096, 0xB43F]); // 9876543
    }

    #[test]
    fn teltonika_rssi_words_at_documented_addresses() {
        let state = known_state();
        let abcd = RegisterMap::teltonika_rutos();
        assert_eq!(abcd.read(&state, 3, 2), Ok(vec![0xFFFF, 0xFFB9]));
        assert_eq!(abcd.read(&state, 5, 2), Ok(vec![0x0000, 0x019F]));
        let cdab = RegisterMap::teltonika_rutos().with_word_order(WordOrder::Cdab);
        assert_eq!(cdab.read(&state, 3, 2), Ok(vec![0xFFB9, 0xFFFF]));
        // Offset 1: the same words one register later; the old address is the middle of uptime.
        let shifted = RegisterMap::teltonika_rutos().with_address_offset(AddressOffset(1));
        assert_eq!(shifted.read(&state, 4, 2), Ok(vec![0xFFFF, 0xFFB9]));
        assert_eq!(shifted.read(&state, 3, 2), Err(ReadError::IllegalDataAddress));
    }

    #[test]
    fn generic_lte_map_shows_a_known_state() {
        for order in [WordOrder::Abcd, WordOrder::Cdab] {
            for offset in [0, 1] {
                let map = RegisterMap::generic_lte()
                    .with_word_order(order)
                    .with_address_offset(AddressOffset(offset));
                assert_eq!(
                    decoded(&map, &known_state()),
                    [
                        ("registration", "5"),
                        ("rat", "4"),
                        ("rssi", "-71"),
                        ("rsrp", "-101"),
                        ("rsrq", "-115"),
                        ("sinr", "72"),
                        ("temperature", "415"),
                        ("sim-slot", "1"),
                        ("uptime", "90061"),
                        ("rx-bytes", "123456789"),
                        ("tx-bytes", "9876543"),
                        ("operator", "Orange F"),
                    ]
                    .map(|(name, value)| (name, value.to_owned())),
                    "{order:?}, offset {offset}"
                );
            }
        }
    }

    #[test]
    fn generic_lte_block_read_in_cdab() {
        let map = RegisterMap::generic_lte().with_word_order(WordOrder::Cdab);
        let words = map.read(&known_state(), 0, 14).expect("the numeric block");
        assert_eq!(
            words,
            [
                5, 4, 0xFFB9, 0xFF9B, 0xFF8D, 72, 415, 1, // codes and signal
                0x5FCD, 0x0001, // uptime 90061 = 0x0001_5FCD, low word first
                0xCD15, 0x075B, // rx
                0xB43F, 0x0096, // tx
            ]
        );
    }

    #[test]
    fn registration_and_rat_codes() {
        let codes = [
            (Registration::NotRegistered, 0, "Not registered"),
            (Registration::Home, 1, "Registered, home"),
            (Registration::Searching, 2, "Searching"),
            (Registration::Denied, 3, "Denied"),
            (Registration::Roaming, 5, "Registered, roaming"),
        ];
        for (registration, code, text) in codes {
            assert_eq!(registration.code(), code);
            assert_eq!(registration_text(registration), text);
        }
        let rats = [
            (Rat::G2, 2, "GSM"),
            (Rat::G3, 3, "WCDMA"),
            (Rat::G4, 4, "LTE"),
            (Rat::G5, 5, "5G-NSA"),
        ];
        for (rat, generation, text) in rats {
            assert_eq!(rat.generation(), generation);
            assert_eq!(rat_text(rat), text);
        }
    }

    #[test]
    fn reads_must_follow_field_boundaries() {
        let map = RegisterMap::teltonika_rutos();
        let state = known_state();
        assert_eq!(map.read(&state, 0, 2), Err(ReadError::IllegalDataAddress)); // 0 unmapped
        assert_eq!(map.read(&state, 2, 2), Err(ReadError::IllegalDataAddress)); // half of uptime
        assert_eq!(map.read(&state, 1, 3), Err(ReadError::IllegalDataAddress)); // cuts rssi
        assert_eq!(map.read(&state, 23, 8), Err(ReadError::IllegalDataAddress)); // half the operator
        assert_eq!(map.read(&state, 135, 2), Err(ReadError::IllegalDataAddress)); // digital input: not simulated
        assert_eq!(map.read(&state, 1, 0), Err(ReadError::IllegalQuantity));
        assert_eq!(map.read(&state, 1, 126), Err(ReadError::IllegalQuantity));
        assert_eq!(map.read(&state, u16::MAX, 1), Err(ReadError::IllegalDataAddress));
        // Several whole fields at once: uptime … network type.
        assert_eq!(map.read(&state, 1, 118).map(|w| w.len()), Ok(118));
    }

    #[test]
    fn out_of_range_state_values_do_not_panic() {
        let state = ModemState {
            rx_bytes: u64::MAX,
            uptime_s: u64::MAX,
            temperature_c: f64::NAN,
            rsrq_db: 1e300,
            operator: "x".repeat(100),
            ..known_state()
        };
        for map in [RegisterMap::teltonika_rutos(), RegisterMap::generic_lte()] {
            for f in map.fields() {
                assert_eq!(
                    map.encode_field(f, &state).len(),
                    usize::from(f.encoding.words()),
                    "{}",
                    f.name
                );
            }
        }
    }

    fn modem(map: RegisterMap, state: ModemState, now: Instant) -> Modem {
        Modem {
            map,
            mode: Mutex::new(Mode::Normal),
            live: Mutex::new(Live::new(state, now)),
            actions: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            data_session: Mutex::new(None),
        }
    }

    #[test]
    fn modes_shape_every_answer() {
        let now = Instant::now();
        let m = modem(RegisterMap::generic_lte(), known_state(), now);
        let read = Request::ReadHoldingRegisters(2, 1);
        assert_eq!(
            m.respond(&read, now),
            Ok(Some(Response::ReadHoldingRegisters(vec![0xFFB9])))
        );
        *lock(&m.mode) = Mode::Exception(4);
        assert_eq!(m.respond(&read, now), Err(ExceptionCode::ServerDeviceFailure));
        *lock(&m.mode) = Mode::Drop;
        assert_eq!(m.respond(&read, now), Ok(None));
        *lock(&m.mode) = Mode::Garbage;
        assert_eq!(
            m.respond(&read, now),
            Ok(Some(Response::Custom(0x03, Bytes::from_static(GARBAGE))))
        );
        assert_eq!(m.requests.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn uptime_advances_with_time() {
        let then = Instant::now();
        let m = modem(RegisterMap::generic_lte(), known_state(), then);
        let later = then + Duration::from_secs(10);
        assert_eq!(
            m.answer(&Request::ReadInputRegisters(8, 2), later),
            Ok(Response::ReadInputRegisters(vec![0x0001, 0x5FCD + 10]))
        );
    }

    #[test]
    fn unsupported_functions_get_exception_1() {
        let now = Instant::now();
        let m = modem(RegisterMap::generic_lte(), known_state(), now);
        assert_eq!(
            m.answer(&Request::ReadDiscreteInputs(0, 1), now),
            Err(ExceptionCode::IllegalFunction)
        );
        assert_eq!(
            m.answer(&Request::MaskWriteRegister(0, 0, 0), now),
            Err(ExceptionCode::IllegalFunction)
        );
    }

    #[test]
    fn coil_actions_are_recorded_and_reconnect_clears_a_stale_session() {
        let now = Instant::now();
        let stale = ModemState {
            stale_data_session: true,
            ..known_state()
        };
        let map = RegisterMap::generic_lte().with_address_offset(AddressOffset(1));
        let m = modem(map, stale, now);
        assert_eq!(
            m.answer(&Request::ReadCoils(1, 2), now),
            Ok(Response::ReadCoils(vec![false, false]))
        );
        assert_eq!(
            m.answer(&Request::WriteSingleCoil(0, true), now),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            m.answer(&Request::WriteSingleCoil(1, false), now),
            Ok(Response::WriteSingleCoil(1, false))
        );
        assert!(lock(&m.actions).is_empty(), "OFF triggers nothing");
        assert!(lock(&m.live).state.stale_data_session);
        assert_eq!(
            m.answer(&Request::WriteSingleCoil(1, true), now),
            Ok(Response::WriteSingleCoil(1, true))
        );
        assert_eq!(*lock(&m.actions), ["reconnect"]);
        assert!(!lock(&m.live).state.stale_data_session);
        let later = now + Duration::from_secs(5);
        assert_eq!(
            m.answer(&Request::WriteMultipleCoils(1, vec![false, true].into()), later),
            Ok(Response::WriteMultipleCoils(1, 2))
        );
        assert_eq!(*lock(&m.actions), ["reconnect", "reboot"]);
        assert_eq!(lock(&m.live).now(later).uptime_s, 0, "a reboot restarts the uptime");
    }

    #[test]
    fn register_actions_check_address_and_value() {
        let now = Instant::now();
        let stale = ModemState {
            stale_data_session: true,
            ..known_state()
        };
        let m = modem(RegisterMap::teltonika_rutos(), stale, now);
        assert_eq!(
            m.answer(&Request::WriteSingleRegister(212, 1), now),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            m.answer(&Request::WriteSingleRegister(211, 7), now),
            Err(ExceptionCode::IllegalDataValue)
        );
        assert_eq!(
            m.answer(&Request::WriteSingleRegister(211, 0), now),
            Ok(Response::WriteSingleRegister(211, 0))
        );
        assert!(
            lock(&m.live).state.stale_data_session,
            "switching data off is no reconnect"
        );
        // A refused multiple write triggers none of its actions.
        assert_eq!(
            m.answer(&Request::WriteMultipleRegisters(210, vec![1, 1].into()), now),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            m.answer(&Request::WriteMultipleRegisters(211, vec![1].into()), now),
            Ok(Response::WriteMultipleRegisters(211, 1))
        );
        assert_eq!(*lock(&m.actions), ["mobile-data-off", "mobile-data-on"]);
        assert!(!lock(&m.live).state.stale_data_session);
        assert_eq!(
            m.answer(&Request::WriteSingleRegister(206, 1), now),
            Ok(Response::WriteSingleRegister(206, 1))
        );
        assert_eq!(lock(&m.actions).last().map(String::as_str), Some("reboot"));
    }

    #[test]
    fn scenario_toml_parses() {
        let config: Config = toml::from_str(
            r#"
            map = "teltonika-rutos"
            word-order = "cdab"
            address-offset = 1
            mode = { exception = 4 }
            [state]
            rssi-dbm = -71
            registration = "home"
            rat = "4g"
            operator = "Orange F"
            temperature-c = 41.5
            stale-data-session = true
            "#,
        )
        .expect("parses");
        assert_eq!(config.map, MapName::TeltonikaRutos);
        assert_eq!(config.mode, Mode::Exception(4));
        let map = config.register_map();
        assert_eq!((map.word_order(), map.address_offset()), (WordOrder::Cdab, 1));
        assert_eq!(
            config.state,
            ModemState {
                rssi_dbm: -71,
                temperature_c: 41.5,
                stale_data_session: true,
                ..ModemState::default()
            }
        );
        let minimal: Config = toml::from_str(r#"map = "generic-lte""#).expect("parses");
        assert_eq!(minimal.mode, Mode::Normal);
        assert_eq!(minimal.state, ModemState::default());
        assert_eq!(minimal.register_map(), RegisterMap::generic_lte());
        for mode in ["\"drop\"", "\"garbage\"", "\"normal\""] {
            toml::from_str::<Config>(&format!("map = \"generic-lte\"\nmode = {mode}")).expect(mode);
        }
    }

    #[test]
    fn scenario_toml_rejects_mistakes() {
        for bad in [
            r#"map = "huawei""#,
            "map = \"generic-lte\"\naddress-offset = 2",
            "map = \"generic-lte\"\nword-order = \"badc\"",
            "map = \"generic-lte\"\n[state]\nrssi = -71",
            "map = \"generic-lte\"\n[state]\nrat = \"6g\"",
            "map = \"generic-lte\"\n[state]\nregistration = \"registered\"",
        ] {
            assert!(toml::from_str::<Config>(bad).is_err(), "accepted: {bad}");
        }
    }
}
