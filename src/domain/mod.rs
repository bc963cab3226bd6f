//! Domain types every stage shares: the date window, money and currencies, the frame schemas,
//! the line of a check that could not run, atomic files, CSV record splitting, memory
//! readings and two pieces of work run at once. Nothing here knows about Xsolla's API, the
//! ledger's layout or the job; every other layer may import from here.

pub mod alloc;
pub mod codes;
pub mod csvsplit;
pub mod frames;
pub mod fsutil;
pub mod memory;
pub mod money;
pub mod not_checked;
pub mod sources;
pub mod text;
pub mod threads;
pub mod window;
