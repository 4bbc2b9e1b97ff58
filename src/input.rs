//! Validated values of what people type. A value of these types has passed its rules, so
//! nothing behind the GraphQL edge has to check again. Each parser names the field as the
//! client spelled it, for `BAD_USER_INPUT`'s `field` extension.

use crate::error::AppError;

/// An email address, trimmed and lowercased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let value = raw.trim().to_lowercase();
        let invalid = || AppError::invalid(field, "must be a valid email address");
        if value.len() > 320 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        // A plain address only: no display name or angle brackets (`x<a@b.example>`
        // would be mailed to the inner address), no quoting, no comments.
        let local_ok = local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let domain_chars_ok = domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if !local_ok || !domain_chars_ok {
            return Err(invalid());
        }
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@');
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An organization's URL name: 3–64 of `a-z`, `0-9` and inner hyphens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slug(String);

const RESERVED_SLUGS: &[&str] = &[
    "admin", "api", "app", "graphql", "healthz", "login", "metrics", "readyz", "signup", "static",
    "www",
];

impl Slug {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let value = raw.trim().to_lowercase();
        let well_formed = (3..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.starts_with('-')
            && !value.ends_with('-')
            && !value.contains("--");
        if !well_formed {
            return Err(AppError::invalid(
                field,
                "must be 3 to 64 characters of a-z, 0-9 and single inner hyphens",
            ));
        }
        if RESERVED_SLUGS.contains(&value.as_str()) {
            return Err(AppError::invalid(field, "is reserved"));
        }
        Ok(Slug(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A new password: 10 to 256 characters (the upper bound keeps hashing cost bounded).
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(field: &str, raw: String) -> Result<Self, AppError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(AppError::invalid(
                field,
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if chars > Self::MAX_CHARS {
            return Err(AppError::invalid(
                field,
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if raw.trim().is_empty() {
            return Err(AppError::invalid(field, "must not be blank"));
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(****)")
    }
}

/// A display name (person, organization, contact): trimmed, 1 to `max` characters, no
/// control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<Self, AppError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(AppError::invalid(field, "must not be empty"));
        }
        if value.chars().count() > max {
            return Err(AppError::invalid(
                field,
                format!("must be at most {max} characters"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(AppError::invalid(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Name(value.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A phone number, normalised to `+` and digits (spaces, dots, dashes and parentheses
/// dropped): 7 to 15 digits, as E.164 allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let trimmed = raw.trim();
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(AppError::invalid(
                        field,
                        "must be a phone number of digits, optionally starting with +",
                    ));
                }
            }
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(AppError::invalid(field, "must have 7 to 15 digits"));
        }
        Ok(Phone(format!("{plus}{digits}")))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A JSON object of at most `max_bytes` once serialized: contact attributes, event
/// properties, channel settings and credentials.
#[derive(Clone, PartialEq)]
pub struct JsonObject(serde_json::Map<String, serde_json::Value>);

impl JsonObject {
    pub fn parse(
        field: &str,
        value: serde_json::Value,
        max_bytes: usize,
    ) -> Result<Self, AppError> {
        let serde_json::Value::Object(map) = value else {
            return Err(AppError::invalid(field, "must be a JSON object"));
        };
        let size = serde_json::to_vec(&map).map_err(AppError::internal)?.len();
        if size > max_bytes {
            return Err(AppError::invalid(
                field,
                format!("must be at most {max_bytes} bytes as JSON"),
            ));
        }
        Ok(JsonObject(map))
    }

    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.0
    }

    pub fn into_map(self) -> serde_json::Map<String, serde_json::Value> {
        self.0
    }

    /// As stored: serialized.
    pub fn to_text(&self) -> String {
        serde_json::Value::Object(self.0.clone()).to_string()
    }
}

/// A time a client sent, within the years 1970 to 9999. The `DateTime` scalar itself
/// accepts years up to ±262143, where date arithmetic overflows and PostgreSQL's range
/// ends; every date argument goes through here before it is used.
pub fn bounded_time(
    field: &str,
    time: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    use chrono::Datelike;
    if (1970..=9999).contains(&time.year()) {
        Ok(time)
    } else {
        Err(AppError::invalid(
            field,
            "must be a time between the years 1970 and 9999",
        ))
    }
}

/// Parses a GraphQL `ID` that must be a UUID; anything else is `BAD_USER_INPUT`.
pub fn parse_id(field: &str, raw: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(raw.trim()).map_err(|_| AppError::invalid(field, "is not a valid id"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("email", " Ann@Example.COM ")
                .map(Email::into_inner)
                .ok(),
            Some("ann@example.com".into())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a n@example.com",
            "ann@.com",
            "ann@example..com",
            "x<attacker@evil.example>",
            "\"ann\"@example.com",
            "ann(comment)@example.com",
            "ann@[127.0.0.1]",
            "ann@exa_mple.com",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn slugs_follow_the_url_rules() {
        assert!(Slug::parse("slug", "acme-2").is_ok());
        for bad in [
            "ab",
            "-acme",
            "acme-",
            "ac--me",
            "ac_me",
            "acmé",
            "api",
            &"a".repeat(65),
        ] {
            assert!(Slug::parse("slug", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_need_ten_characters_and_are_never_printed() {
        assert!(Password::parse("password", "short".into()).is_err());
        assert!(Password::parse("password", " ".repeat(12)).is_err());
        let password = Password::parse("password", "correct horse".into()).ok();
        assert_eq!(format!("{password:?}"), "Some(Password(****))");
    }

    #[test]
    fn phones_are_normalised() {
        assert_eq!(
            Phone::parse("phone", "+1 (555) 010-9999")
                .map(Phone::into_inner)
                .ok(),
            Some("+15550109999".into())
        );
        assert!(Phone::parse("phone", "call me").is_err());
        assert!(Phone::parse("phone", "12").is_err());
    }

    #[test]
    fn ids_must_be_uuids() {
        assert!(parse_id("id", "not-a-uuid").is_err());
        assert!(parse_id("id", "0192f1c8-5b7a-7cc4-9e4f-3a1f6c2b9d10").is_ok());
    }
}
