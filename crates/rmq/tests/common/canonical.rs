//! The canonical one-line description of a command that `interop/java` (`Golden decode`)
//! prints, so that our reading and Java's reading of the same bytes can be compared as text.

use rmq::protocol::{RemotingCommand, SerializeType};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn canonical(name: &str, cmd: &RemotingCommand) -> String {
    let mut ext: Vec<(&str, &str)> = cmd.ext_fields.iter().collect();
    ext.sort();
    let ext = ext
        .iter()
        .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "{name} code={} flag={} opaque={} version={} language={} serializeType={} remark={} ext={{{ext}}} body={}",
        cmd.code,
        cmd.flag,
        cmd.opaque,
        cmd.version,
        cmd.language.name().unwrap_or("null"),
        match cmd.serialize_type {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        },
        cmd.remark.as_deref().map_or("null".to_string(), quote),
        hex(&cmd.body),
    )
}
