mod common;

mod audit;
mod clients;
mod connect;
mod forward;
mod identity;
mod limits;
mod reload;
mod ssrf;
