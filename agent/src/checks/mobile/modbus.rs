//! The Modbus TCP client side of the mobile check: one connection, reads and writes each with
//! a timeout, and the one place where tokio-modbus outcomes become [`ModemError`]s.
//!
//! Requests go through `Client::call` and the answers are checked here, not through
//! tokio-modbus's `Reader`/`Writer` helpers: those `debug_assert!` that a well-framed answer
//! has the count and echo asked for, so a modem answering the wrong number of registers would
//! panic a debug build instead of being reported as garbage.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use tokio_modbus::client::{Client, Context, tcp};
use tokio_modbus::{ExceptionCode, Request, Response, Slave};

use super::map::{ModemAction, Write};
use crate::checks::MeasureError;

/// Why the modem could not be read or commanded. Every variant names the modem.
#[derive(Debug, thiserror::Error)]
pub enum ModemError {
    /// No modem is configured (`[mobile] modem`).
    #[error("no modem configured ([mobile] modem)")]
    NotConfigured,
    /// The TCP connection could not be made.
    #[error("modem not reachable at {addr} ({reason})")]
    NotReachable {
        /// The modem.
        addr: SocketAddr,
        /// Refused, timed out, no route…
        reason: String,
    },
    /// The connection is up but the modem did not answer in time.
    #[error("modem at {addr} did not answer {what} within {} ms", timeout.as_millis())]
    Silent {
        /// The modem.
        addr: SocketAddr,
        /// The request ("reading registers 1–6").
        what: String,
        /// How long it was given.
        timeout: Duration,
    },
    /// The modem answered with a Modbus exception.
    #[error("modem at {addr} refused {what}: Modbus exception {code} ({})", exception_name(*code))]
    Exception {
        /// The modem.
        addr: SocketAddr,
        /// The request.
        what: String,
        /// The exception code.
        code: u8,
    },
    /// The modem answered something that is not a valid answer, or impossible values.
    #[error("modem at {addr} answered garbage to {what}: {detail}")]
    Garbage {
        /// The modem.
        addr: SocketAddr,
        /// The request or register.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The connection failed mid-way.
    #[error("modem at {addr}: {what} failed ({source})")]
    Io {
        /// The modem.
        addr: SocketAddr,
        /// The request.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The modem's register map has no way to perform this action.
    #[error("the register map of the modem at {addr} has no {} action", action.as_str())]
    Unsupported {
        /// The modem.
        addr: SocketAddr,
        /// The action asked for.
        action: ModemAction,
    },
}

impl From<ModemError> for MeasureError {
    fn from(e: ModemError) -> Self {
        MeasureError::Device(e.to_string())
    }
}

/// The names of the Modbus application protocol's exception codes.
fn exception_name(code: u8) -> &'static str {
    match code {
        1 => "illegal function",
        2 => "illegal data address",
        3 => "illegal data value",
        4 => "server device failure",
        5 => "acknowledge",
        6 => "server device busy",
        8 => "memory parity error",
        10 => "gateway path unavailable",
        11 => "gateway target device failed to respond",
        _ => "non-standard code",
    }
}

/// One connection to the modem.
pub(super) struct Session {
    ctx: Context,
    addr: SocketAddr,
    timeout: Duration,
}

impl Session {
    /// Connects within `timeout`.
    pub(super) async fn connect(addr: SocketAddr, unit_id: u8, timeout: Duration) -> Result<Self, ModemError> {
        let reason = match tokio::time::timeout(timeout, tcp::connect_slave(addr, Slave(unit_id))).await {
            Ok(Ok(ctx)) => return Ok(Self { ctx, addr, timeout }),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer to the connection within {} ms", timeout.as_millis()),
        };
        Err(ModemError::NotReachable { addr, reason })
    }

    /// Reads `count` holding registers from `start`.
    pub(super) async fn read(&mut self, start: u16, count: u16) -> Result<Vec<u16>, ModemError> {
        let what = format!("reading registers {start}–{}", u32::from(start) + u32::from(count) - 1);
        let request = Request::ReadHoldingRegisters(start, count);
        let answer = tokio::time::timeout(self.timeout, self.ctx.call(request)).await;
        let detail = match self.outcome(answer, &what)? {
            Response::ReadHoldingRegisters(words) if words.len() == usize::from(count) => return Ok(words),
            Response::ReadHoldingRegisters(words) => format!("{} registers instead of {count}", words.len()),
            other => format!("an answer to another request ({other:?})"),
        };
        Err(ModemError::Garbage {
            addr: self.addr,
            what,
            detail,
        })
    }

    /// Performs one write.
    pub(super) async fn write(&mut self, write: Write) -> Result<(), ModemError> {
        let (what, request) = match write {
            Write::CoilOn(address) => (
                format!("writing ON to coil {address}"),
                Request::WriteSingleCoil(address, true),
            ),
            Write::Register { address, value } => (
                format!("writing {value} to register {address}"),
                Request::WriteSingleRegister(address, value),
            ),
        };
        let answer = tokio::time::timeout(self.timeout, self.ctx.call(request)).await;
        // A write is acknowledged by echoing it.
        let echoed = match (self.outcome(answer, &what)?, write) {
            (Response::WriteSingleCoil(a, on), Write::CoilOn(address)) => a == address && on,
            (Response::WriteSingleRegister(a, v), Write::Register { address, value }) => a == address && v == value,
            _ => false,
        };
        if echoed {
            Ok(())
        } else {
            Err(ModemError::Garbage {
                addr: self.addr,
                what,
                detail: "the acknowledgement does not echo the write".to_owned(),
            })
        }
    }

    /// Closes the connection (best effort: the modem may already have dropped it).
    pub(super) async fn close(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.ctx.disconnect()).await;
    }

    /// The one mapping of a tokio-modbus outcome to a value or a [`ModemError`].
    fn outcome<T>(
        &self,
        answer: Result<tokio_modbus::Result<T>, tokio::time::error::Elapsed>,
        what: &str,
    ) -> Result<T, ModemError> {
        let addr = self.addr;
        let what = what.to_owned();
        match answer {
            Err(_) => Err(ModemError::Silent {
                addr,
                what,
                timeout: self.timeout,
            }),
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(exception))) => Err(ModemError::Exception {
                addr,
                what,
                code: exception_code(exception),
            }),
            Ok(Err(tokio_modbus::Error::Protocol(e))) => Err(ModemError::Garbage {
                addr,
                what,
                detail: e.to_string(),
            }),
            // tokio-modbus reports a malformed frame as InvalidData, a truncated one as
            // UnexpectedEof.
            Ok(Err(tokio_modbus::Error::Transport(e)))
                if matches!(e.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof) =>
            {
                Err(ModemError::Garbage {
                    addr,
                    what,
                    detail: e.to_string(),
                })
            }
            Ok(Err(tokio_modbus::Error::Transport(source))) => Err(ModemError::Io { addr, what, source }),
        }
    }
}

fn exception_code(e: ExceptionCode) -> u8 {
    u8::from(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_modem_and_the_cause() {
        let addr = SocketAddr::from(([192, 0, 2, 1], 502));
        let cases = [
            (
                ModemError::NotReachable {
                    addr,
                    reason: "connection refused".into(),
                },
                "modem not reachable at 192.0.2.1:502 (connection refused)",
            ),
            (
                ModemError::Exception {
                    addr,
                    what: "reading registers 1–6".into(),
                    code: 4,
                },
                "modem at 192.0.2.1:502 refused reading registers 1–6: Modbus exception 4 (server device failure)",
            ),
            (
                ModemError::Silent {
                    addr,
                    what: "reading registers 1–6".into(),
                    timeout: Duration::from_millis(500),
                },
                "modem at 192.0.2.1:502 did not answer reading registers 1–6 within 500 ms",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
