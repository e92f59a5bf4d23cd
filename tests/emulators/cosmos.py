"""The Cosmos DB emulator (@vercel/cosmosdb-server) for the integration and contract tests."""
