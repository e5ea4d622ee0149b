//! The domain: values that can only hold valid contents, the stored states, commands,
//! events and outcomes. Pure: nothing here reads a database or a socket.

#[macro_use]
mod values;
pub mod command;
pub mod events;
pub mod ids;
pub mod leave;
pub mod outcome;
pub mod secret;
mod states;
pub mod tasks;

pub use states::*;
pub use values::*;
