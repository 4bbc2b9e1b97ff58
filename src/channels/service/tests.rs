use super::*;

fn field_of(result: AppResult<String>) -> Option<String> {
    match result {
        Err(AppError::BadUserInput { field, .. }) => Some(field),
        _ => None,
    }
}

#[test]
fn settings_name_the_offending_key() {
    assert_eq!(settings(None).ok().as_deref(), Some("{}"));
    assert_eq!(
        field_of(settings(Some(json!([1])))).as_deref(),
        Some("settings")
    );
    assert_eq!(
        field_of(settings(Some(json!({ "greeting": 5 })))).as_deref(),
        Some("settings.greeting")
    );
    assert_eq!(
        field_of(settings(Some(json!({ "greeting": "x".repeat(501) })))).as_deref(),
        Some("settings.greeting")
    );
    assert_eq!(
        field_of(settings(Some(json!({ "branding": "blue" })))).as_deref(),
        Some("settings.branding")
    );
    assert_eq!(
        field_of(settings(Some(
            json!({ "notes": "x".repeat(MAX_SETTINGS_BYTES) })
        )))
        .as_deref(),
        Some("settings")
    );
    assert!(
        settings(Some(
            json!({ "greeting": "Hi!", "branding": { "color": "#123456" } })
        ))
        .is_ok()
    );
}

#[test]
fn blank_instructions_are_none() -> AppResult<()> {
    assert_eq!(instructions("instructions", Some("  \n".into()))?, None);
    assert_eq!(instructions("instructions", None)?, None);
    let longest = "é".repeat(MAX_INSTRUCTIONS_CHARS);
    assert!(instructions("instructions", Some(longest.clone()))?.is_some());
    assert!(instructions("instructions", Some(format!("{longest}x"))).is_err());
    Ok(())
}

#[test]
fn instructions_resolve_channel_then_organization_then_system() {
    let with_default = Fallback {
        organization: Some("Be brief.".into()),
        system: "Be kind.",
    };
    assert_eq!(
        with_default.resolve(Some("Speak French.")).source,
        InstructionSource::Channel
    );
    assert_eq!(
        with_default.resolve(None),
        EffectiveInstructions {
            text: "Be brief.".into(),
            source: InstructionSource::Organization
        }
    );
    let bare = Fallback {
        organization: None,
        system: "Be kind.",
    };
    assert_eq!(bare.resolve(None).source, InstructionSource::System);
    assert_eq!(bare.resolve(None).text, "Be kind.");
}

#[test]
fn cursors_name_a_kind() {
    let encoded = KindCursor(ChannelKind::Voice).encode();
    assert!(matches!(
        KindCursor::decode(&encoded),
        Some(KindCursor(ChannelKind::Voice))
    ));
    assert!(KindCursor::decode("k1:fax").is_none());
}
