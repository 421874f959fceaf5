//! The client layer: [`ClientConfig`], typed calls to servers ([`ClientApi`]), the client
//! instance shared by producers and consumers ([`ClientInstance`]), routes and name checks.

mod acl;
mod address;
mod api;
mod config;
mod hook;
mod instance;
mod members;
mod processor;
mod request;
mod route;
mod tls;
mod trace;
pub mod validate;

pub use acl::Credentials;
pub use api::{
    check_address, expect_success, parse_name_servers, ClientApi, HeaderWriter, WireIdentity,
};
pub use config::{AddressServer, AddressServerConfig, ClientConfig, InstanceConfig};
pub(crate) use config::check_timeout;
pub use hook::{CommandView, RpcHook};
pub use instance::{BrokerTable, ClientInstance};
pub use members::{
    ConsumerMember, Member, MemberKind, Members, ProducerMember, TransactionCheck,
};
pub use tls::TlsConfig;
pub use trace::{
    TraceConfig, TraceDispatcher, TraceEvent, TraceStats, TraceTransport, TransportFuture,
};
pub use request::RequestTable;
pub use route::{subscribe_queues, MessageQueue, TopicPublishInfo};
