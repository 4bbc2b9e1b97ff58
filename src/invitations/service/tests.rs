use super::*;

#[test]
fn tokens_name_their_organization_and_nothing_else_parses() {
    let organization = Uuid::now_v7();
    let (token, hash) = new_token(organization);
    assert_eq!(organization_of(&token), Some(organization));
    assert_eq!(hash, hash_opaque_token(&token));
    assert_ne!(new_token(organization).0, token);
    for bad in ["", "tgi_", "tgi_!!!", "tgr_abc", &token[..token.len() - 2]] {
        assert_eq!(organization_of(bad), None, "{bad:?}");
    }
}
