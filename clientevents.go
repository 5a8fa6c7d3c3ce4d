package gatehouse

// Audit event types of OAuth client management (contract §13). Their
// detail names the client by id, never a secret.
const (
	EventClientCreated       = "oauth_client_created"
	EventClientChanged       = "oauth_client_changed"
	EventClientSecretRotated = "oauth_client_secret_rotated"
	EventClientDeleted       = "oauth_client_deleted"
)
