//! The SCIM discovery documents (RFC 7643 §5–7): what this service provider supports,
//! its resource types, and the schemas of exactly the attributes readtrack keeps.
//! Identity providers and test suites build their requests from these, so an attribute
//! appears here only when a member or department stores it.

use readtrack_domain::scim::{ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use readtrack_service::scim::MAX_PAGE;
use serde_json::{Value, json};

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// One attribute definition with RFC 7643 §7's characteristics.
struct Attr {
    name: &'static str,
    kind: &'static str,
    multi: bool,
    required: bool,
    mutability: &'static str,
    uniqueness: &'static str,
    description: &'static str,
    sub: Vec<Attr>,
    reference_types: &'static [&'static str],
}

fn attr(name: &'static str, kind: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        kind,
        multi: false,
        required: false,
        mutability: "readWrite",
        uniqueness: "none",
        description,
        sub: Vec::new(),
        reference_types: &[],
    }
}

impl Attr {
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn unique(mut self) -> Self {
        self.uniqueness = "server";
        self
    }
    fn immutable(mut self) -> Self {
        self.mutability = "immutable";
        self
    }
    fn sub(mut self, sub: Vec<Attr>) -> Self {
        self.sub = sub;
        self
    }
    fn refs(mut self, types: &'static [&'static str]) -> Self {
        self.reference_types = types;
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": self.kind,
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": false,
            "mutability": self.mutability,
            "returned": "default",
            "uniqueness": self.uniqueness,
        });
        if !self.sub.is_empty() {
            v["subAttributes"] = Value::Array(self.sub.iter().map(Attr::to_json).collect());
        }
        if !self.reference_types.is_empty() {
            v["referenceTypes"] = json!(self.reference_types);
        }
        v
    }
}

fn schema(id: &str, name: &str, description: &str, attrs: &[Attr], base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(Attr::to_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

fn user_schema(base: &str) -> Value {
    let single_value = |what: &'static str, description: &'static str| {
        attr(what, "complex", description).multi().sub(vec![attr(
            "value",
            "string",
            "The value (readtrack keeps one).",
        )])
    };
    schema(
        USER_SCHEMA,
        "User",
        "A member of the organisation",
        &[
            attr(
                "userName",
                "string",
                "The member's email address, with which they sign in.",
            )
            .required()
            .unique(),
            attr("name", "complex", "The member's name.").sub(vec![attr(
                "formatted",
                "string",
                "The full name, as shown (the same as displayName).",
            )]),
            attr("displayName", "string", "The name shown for the member."),
            attr(
                "active",
                "boolean",
                "false deprovisions: the member is deactivated, their history kept.",
            ),
            single_value(
                "emails",
                "The member's email address (the same as userName).",
            ),
            single_value(
                "phoneNumbers",
                "The member's mobile number, E.164 (+85291234567), for SMS.",
            ),
        ],
        base,
    )
}

fn group_schema(base: &str) -> Value {
    schema(
        GROUP_SCHEMA,
        "Group",
        "A department",
        &[
            attr("displayName", "string", "The department's name.").required(),
            attr(
                "members",
                "complex",
                "The department's members (a member belongs to one department).",
            )
            .multi()
            .sub(vec![
                attr("value", "string", "The member's id.").immutable(),
                attr("$ref", "reference", "The member's URI.")
                    .immutable()
                    .refs(&["User"]),
            ]),
        ],
        base,
    )
}

fn enterprise_schema(base: &str) -> Value {
    schema(
        ENTERPRISE_SCHEMA,
        "EnterpriseUser",
        "Enterprise User",
        &[
            attr(
                "department",
                "string",
                "The member's department, by name (created when new).",
            ),
            attr("manager", "complex", "The member's line manager.").sub(vec![
                attr("value", "string", "The manager's id."),
                attr("$ref", "reference", "The manager's URI.").refs(&["User"]),
            ]),
        ],
        base,
    )
}

/// Every schema, by id.
pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        user_schema(base),
        group_schema(base),
        enterprise_schema(base),
    ]
}

/// Every resource type.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "Members of the organisation",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Departments",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

/// What this service provider supports.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SPC_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token an admin creates with POST /api/v1/tokens {\"scope\": \"scim\"}",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}
