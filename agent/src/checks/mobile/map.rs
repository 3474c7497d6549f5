//! Register maps: where a modem keeps each value, as data. A map is a list of [`Field`]s (what,
//! where, how it is encoded, its scale) and of the writes that perform its [`ModemAction`]s,
//! plus the two settings vendors document ambiguously: the address offset and the word order.
//!
//! These maps are the agent's own reading of the vendors' documentation; the netsim simulator
//! keeps its own, so that one cannot silently agree with the other on a mistake.

use serde::{Deserialize, Serialize};

/// The built-in register maps, by the name the configuration uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapName {
    /// [`RegisterMap::teltonika_rutos`].
    TeltonikaRutos,
    /// [`RegisterMap::generic_lte`].
    GenericLte,
}

impl MapName {
    /// The name as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TeltonikaRutos => "teltonika-rutos",
            Self::GenericLte => "generic-lte",
        }
    }
}

/// Order of the two 16-bit words of a 32-bit value (bytes within a word are big-endian, as
/// Modbus sends them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordOrder {
    /// High word first (the Modbus norm).
    #[default]
    Abcd,
    /// Low word first ("word-swapped").
    Cdab,
}

/// How a field's value is laid out in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// byte), padded with NUL.
    Text(u16),
}

impl Encoding {
    /// How many registers the encoding takes.
    pub fn words(self) -> u16 {
        match self {
            Self::U16 | Self::I16 => 1,
            Self::U32 | Self::I32 => 2,
            Self::Text(words) => words,
        }
    }
}

/// What a field tells about the modem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quantity {
    /// Seconds since the modem (router) started.
    UptimeS,
    /// Received signal strength, dBm.
    RssiDbm,
    /// LTE/NR reference signal received power, dBm.
    RsrpDbm,
    /// LTE/NR reference signal received quality, dB.
    RsrqDb,
    /// Signal to interference and noise ratio, dB.
    SinrDb,
    /// Modem temperature, °C.
    TemperatureC,
    /// The operator's name.
    Operator,
    /// Network registration: a 3GPP TS 27.007 `<stat>` code when numeric, RutOS's wording when
    /// text.
    Registration,
    /// Radio access technology: the generation (2–5) when numeric, a name (`LTE`) when text.
    Rat,
    /// The active SIM slot, 1 or 2.
    ActiveSim,
    /// Mobile data received today on this SIM slot (`None`: on the active SIM), bytes.
    RxBytes(Option<u8>),
    /// Mobile data sent today on this SIM slot (`None`: on the active SIM), bytes.
    TxBytes(Option<u8>),
}

/// One value of the modem at a map address.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field {
    /// What it tells.
    pub quantity: Quantity,
    /// First register, before the map's address offset.
    pub address: u16,
    /// Layout in registers.
    pub encoding: Encoding,
    /// Multiplies a numeric raw value into the quantity's unit (0.1 for "in 0.1 °C").
    pub scale: f64,
}

/// A remediation the mobile flow can ask of the modem (DESIGN.md §6): explicit, and only those
/// its map supports ([`RegisterMap::actions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModemAction {
    /// Tear down and re-establish the mobile data session.
    ReconnectData,
    /// Restart the modem (router).
    Reboot,
}

impl ModemAction {
    /// The action's name on the wire and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReconnectData => "reconnect-data",
            Self::Reboot => "reboot",
        }
    }
}

/// One Modbus write; addresses are before the map's address offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Write ON to this coil (function 5).
    CoilOn(u16),
    /// Write this value to this holding register (function 6).
    Register {
        /// The register.
        address: u16,
        /// The value.
        value: u16,
    },
}

/// A vendor's layout of the modem's values, with its word order and address offset, and the
/// writes that perform its actions.
#[derive(Clone, Debug, PartialEq)]
pub struct RegisterMap {
    name: MapName,
    fields: Vec<Field>,
    actions: Vec<(ModemAction, Vec<Write>)>,
    word_order: WordOrder,
    address_offset: u16,
}

impl RegisterMap {
    /// A built-in map by name, with its documented defaults (offset 0, word order ABCD).
    pub fn builtin(name: MapName) -> Self {
        match name {
            MapName::TeltonikaRutos => Self::teltonika_rutos(),
            MapName::GenericLte => Self::generic_lte(),
        }
    }

    /// Teltonika routers (RUT9xx, RUTX, RUT2xx on RutOS): the Modbus TCP server's "Get
    /// parameters" table, read with function 3.
    ///
    /// Sources: the Teltonika Networks wiki page "RUT955 Modbus" (2018 revisions, and the RutOS
    /// "Monitoring via Modbus" guides that reuse its table): system uptime at 1 (2 registers,
    /// u32), GSM signal strength in dBm at 3 (i32), system temperature in 0.1 °C at 5 (i32),
    /// GSM operator name at 23, network registration at 103, network type at 119 (16
    /// registers of text each); "Set parameters": switch mobile data connection at 211
    /// (1 on / 0 off). The per-SIM data counters (185/187 for SIM 1, 300/302 for SIM 2, u32,
    /// bytes by default) and the active SIM at 205 (u16) come from third-party integrations
    /// of the RutOS table. The wiki calls its column "register number" in one revision and
    /// "register address" in another, hence [`with_address_offset`](Self::with_address_offset);
    /// it gives no word order, hence [`with_word_order`](Self::with_word_order).
    ///
    /// Not confirmed from a source read: the reboot register (206, value 1) — the RUT955 table
    /// has a "Reboot" row whose number was not in the excerpt read. There is no RSRP, RSRQ or
    /// SINR in this map.
    pub fn teltonika_rutos() -> Self {
        use Encoding::{I32, Text, U16, U32};
        let fields = vec![
            field(Quantity::UptimeS, 1, U32, 1.0),
            field(Quantity::RssiDbm, 3, I32, 1.0),
            field(Quantity::TemperatureC, 5, I32, 0.1),
            field(Quantity::Operator, 23, Text(16), 1.0),
            field(Quantity::Registration, 103, Text(16), 1.0),
            field(Quantity::Rat, 119, Text(16), 1.0),
            field(Quantity::RxBytes(Some(1)), 185, U32, 1.0),
            field(Quantity::TxBytes(Some(1)), 187, U32, 1.0),
            field(Quantity::ActiveSim, 205, U16, 1.0),
            field(Quantity::RxBytes(Some(2)), 300, U32, 1.0),
            field(Quantity::TxBytes(Some(2)), 302, U32, 1.0),
        ];
        let data = |value| Write::Register { address: 211, value };
        let actions = vec![
            // Mobile data off, then on: the session is torn down and re-established.
            (ModemAction::ReconnectData, vec![data(0), data(1)]),
            (ModemAction::Reboot, vec![Write::Register { address: 206, value: 1 }]),
        ];
        Self::new(MapName::TeltonikaRutos, fields, actions)
    }

    /// A compact map that carries LTE/NR RSRP, RSRQ and SINR, one register per value, in the
    /// style of AMIT's cellular gateways ("Integrated Modbus Slave": service type, registration,
    /// RSSI, RSRP, RSRQ as single registers). No vendor publishes exactly this layout; it is
    /// the map sonde documents for modems whose firmware lets the register table be defined:
    ///
    /// | address | value | encoding |
    /// | --- | --- | --- |
    /// | 0 | registration, 3GPP TS 27.007 `<stat>` | u16 |
    /// | 1 | generation: 2, 3, 4, 5 (0: none) | u16 |
    /// | 2 | RSSI, dBm | i16 |
    /// | 3 | RSRP, dBm | i16 |
    /// | 4 | RSRQ, 0.1 dB | i16 |
    /// | 5 | SINR, 0.1 dB | i16 |
    /// | 6 | temperature, 0.1 °C | i16 |
    /// | 7 | active SIM slot | u16 |
    /// | 8 | uptime, s | u32 |
    /// | 10 | received today, bytes | u32 |
    /// | 12 | sent today, bytes | u32 |
    /// | 14 | operator, 16 registers of text | |
    ///
    /// Actions are coils: ON to coil 0 reconnects the data session, ON to coil 1 reboots.
    pub fn generic_lte() -> Self {
        use Encoding::{I16, Text, U16, U32};
        let fields = vec![
            field(Quantity::Registration, 0, U16, 1.0),
            field(Quantity::Rat, 1, U16, 1.0),
            field(Quantity::RssiDbm, 2, I16, 1.0),
            field(Quantity::RsrpDbm, 3, I16, 1.0),
            field(Quantity::RsrqDb, 4, I16, 0.1),
            field(Quantity::SinrDb, 5, I16, 0.1),
            field(Quantity::TemperatureC, 6, I16, 0.1),
            field(Quantity::ActiveSim, 7, U16, 1.0),
            field(Quantity::UptimeS, 8, U32, 1.0),
            field(Quantity::RxBytes(None), 10, U32, 1.0),
            field(Quantity::TxBytes(None), 12, U32, 1.0),
            field(Quantity::Operator, 14, Text(16), 1.0),
        ];
        let actions = vec![
            (ModemAction::ReconnectData, vec![Write::CoilOn(0)]),
            (ModemAction::Reboot, vec![Write::CoilOn(1)]),
        ];
        Self::new(MapName::GenericLte, fields, actions)
    }

    fn new(name: MapName, mut fields: Vec<Field>, actions: Vec<(ModemAction, Vec<Write>)>) -> Self {
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

    /// The same map with every address (fields and actions) moved by `offset` (0 or 1: 1 when
    /// the device takes the documented 1-based "register numbers" literally).
    #[must_use]
    pub fn with_address_offset(mut self, offset: u16) -> Self {
        self.address_offset = offset;
        self
    }

    /// The map's name.
    pub fn name(&self) -> MapName {
        self.name
    }

    /// Word order of 32-bit values.
    pub fn word_order(&self) -> WordOrder {
        self.word_order
    }

    /// The fields, by address.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Whether the map carries `quantity` at all (on any SIM for the data counters).
    pub fn carries(&self, quantity: Quantity) -> bool {
        self.fields.iter().any(|f| match (f.quantity, quantity) {
            (Quantity::RxBytes(_), Quantity::RxBytes(_)) | (Quantity::TxBytes(_), Quantity::TxBytes(_)) => true,
            (a, b) => a == b,
        })
    }

    /// The actions this map supports.
    pub fn actions(&self) -> Vec<ModemAction> {
        self.actions.iter().map(|(action, _)| *action).collect()
    }

    /// The writes that perform `action`, at wire addresses; `None` when the map has no such
    /// action.
    pub fn writes(&self, action: ModemAction) -> Option<Vec<Write>> {
        let (_, writes) = self.actions.iter().find(|(a, _)| *a == action)?;
        Some(
            writes
                .iter()
                .map(|w| match *w {
                    Write::CoilOn(address) => Write::CoilOn(address.saturating_add(self.address_offset)),
                    Write::Register { address, value } => Write::Register {
                        address: address.saturating_add(self.address_offset),
                        value,
                    },
                })
                .collect(),
        )
    }

    /// Where `field` starts on the wire.
    pub fn wire_address(&self, field: &Field) -> u16 {
        field.address.saturating_add(self.address_offset)
    }

    /// The reads that cover every field: runs of adjacent fields, each at most
    /// [`MAX_READ`] registers, as (wire address, count, fields).
    pub fn blocks(&self) -> Vec<Block<'_>> {
        let mut blocks: Vec<Block<'_>> = Vec::new();
        for f in &self.fields {
            let start = self.wire_address(f);
            let words = f.encoding.words();
            match blocks.last_mut() {
                Some(b)
                    if u32::from(b.start) + u32::from(b.count) == u32::from(start) && b.count + words <= MAX_READ =>
                {
                    b.count += words;
                    b.fields.push(f);
                }
                _ => blocks.push(Block {
                    start,
                    count: words,
                    fields: vec![f],
                }),
            }
        }
        blocks
    }

    /// The raw value of `field` in `words` (read for it alone, or cut from a block).
    pub fn decode(&self, field: &Field, words: &[u16]) -> Option<Raw> {
        if words.len() != usize::from(field.encoding.words()) {
            return None;
        }
        let join = |a: u16, b: u16| {
            let (high, low) = match self.word_order {
                WordOrder::Abcd => (a, b),
                WordOrder::Cdab => (b, a),
            };
            (u32::from(high) << 16) | u32::from(low)
        };
        Some(match (field.encoding, words) {
            (Encoding::U16, [w]) => Raw::Int(i64::from(*w)),
            (Encoding::I16, [w]) => Raw::Int(i64::from(w.cast_signed())),
            (Encoding::U32, [a, b]) => Raw::Int(i64::from(join(*a, *b))),
            (Encoding::I32, [a, b]) => Raw::Int(i64::from(join(*a, *b).cast_signed())),
            (Encoding::Text(_), words) => {
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Raw::Text(bytes[..end].to_vec())
            }
            _ => return None,
        })
    }
}

/// Largest count of one register read (Modbus application protocol, functions 3 and 4).
pub const MAX_READ: u16 = 125;

/// One read of adjacent fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Block<'a> {
    /// First wire address.
    pub start: u16,
    /// Registers read.
    pub count: u16,
    /// The fields it covers, in order.
    pub fields: Vec<&'a Field>,
}

/// A field's value as the registers hold it, before it is judged plausible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Raw {
    /// A number, unscaled.
    Int(i64),
    /// Text bytes up to the first NUL (not yet known to be ASCII).
    Text(Vec<u8>),
}

fn field(quantity: Quantity, address: u16, encoding: Encoding, scale: f64) -> Field {
    Field {
        quantity,
        address,
        encoding,
        scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teltonika_reads_in_blocks_of_adjacent_fields() {
        let map = RegisterMap::teltonika_rutos();
        let blocks: Vec<(u16, u16)> = map.blocks().iter().map(|b| (b.start, b.count)).collect();
        assert_eq!(blocks, [(1, 6), (23, 16), (103, 32), (185, 4), (205, 1), (300, 4)]);
        let shifted = RegisterMap::teltonika_rutos().with_address_offset(1);
        assert_eq!(shifted.blocks()[0].start, 2);
        let lte: Vec<(u16, u16)> = RegisterMap::generic_lte()
            .blocks()
            .iter()
            .map(|b| (b.start, b.count))
            .collect();
        assert_eq!(lte, [(0, 30)]);
    }

    #[test]
    fn numbers_decode_in_both_word_orders() {
        let f = |encoding| field(Quantity::UptimeS, 0, encoding, 1.0);
        let abcd = RegisterMap::teltonika_rutos();
        let cdab = RegisterMap::teltonika_rutos().with_word_order(WordOrder::Cdab);
        let cases: &[(&RegisterMap, Encoding, &[u16], i64)] = &[
            (&abcd, Encoding::U16, &[0xFFFF], 65_535),
            (&abcd, Encoding::I16, &[0xFFB9], -71),
            (&cdab, Encoding::I16, &[0xFFB9], -71),
            (&abcd, Encoding::U32, &[0x0001, 0x86A0], 100_000),
            (&cdab, Encoding::U32, &[0x86A0, 0x0001], 100_000),
            (&abcd, Encoding::I32, &[0xFFFF, 0xFFB9], -71),
            (&cdab, Encoding::I32, &[0xFFB9, 0xFFFF], -71),
            (&abcd, Encoding::I32, &[0x8000, 0x0000], -2_147_483_648),
        ];
        for &(map, encoding, words, n) in cases {
            assert_eq!(
                map.decode(&f(encoding), words),
                Some(Raw::Int(n)),
                "{encoding:?} {words:04X?}"
            );
        }
        assert_eq!(abcd.decode(&f(Encoding::U32), &[1]), None, "wrong length");
        assert_eq!(
            abcd.decode(&f(Encoding::Text(3)), &[0x4C54, 0x4500, 0x0000]),
            Some(Raw::Text(b"LTE".to_vec()))
        );
    }

    #[test]
    fn actions_follow_the_map_and_its_offset() {
        let map = RegisterMap::generic_lte().with_address_offset(1);
        assert_eq!(map.actions(), [ModemAction::ReconnectData, ModemAction::Reboot]);
        assert_eq!(map.writes(ModemAction::ReconnectData), Some(vec![Write::CoilOn(1)]));
        let teltonika = RegisterMap::teltonika_rutos();
        assert_eq!(
            teltonika.writes(ModemAction::ReconnectData),
            Some(vec![
                Write::Register { address: 211, value: 0 },
                Write::Register { address: 211, value: 1 }
            ])
        );
        assert!(teltonika.carries(Quantity::RxBytes(None)));
        assert!(!teltonika.carries(Quantity::RsrpDbm));
    }
}
