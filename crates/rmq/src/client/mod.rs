//! The client layer: typed calls to servers, the client instance shared by producers, routes,
//! name checks.

mod address;
mod api;
mod instance;
mod processor;
mod route;
pub mod validate;

pub use api::{expect_success, parse_name_servers, ClientApi, HeaderWriter, WireIdentity};
pub(crate) use instance::RegisteredProducer;
pub use instance::{AddressServer, BrokerTable, ClientInstance, InstanceConfig};
pub use route::{MessageQueue, TopicPublishInfo};
pub use validate::ValidationError;
