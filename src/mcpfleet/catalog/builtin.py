"""The built-in catalog: well-known MCP servers with short names, in ``server.json`` form.

Each row: short name, aliases, registry type, package identifier, version, description,
environment variables (``NAME`` required, ``NAME?`` optional, ``NAME=default`` with a default;
a trailing ``!`` marks a secret), and package arguments. ``${MCPFLEET_SERVER_DATA}`` is the
server's own data folder.
"""

from __future__ import annotations

from mcpfleet.catalog.schema import Argument, EnvironmentVariable, Package, Remote, ServerJson

__all__ = ["BUILTIN"]

MCP = "@modelcontextprotocol/"
Row = tuple[str, tuple[str, ...], str, str, str, str, tuple[str, ...], tuple[str, ...]]
_ROWS: list[Row] = [
    ("filesystem", ("fs", "files"), "npm", MCP + "server-filesystem", "2026.8.31",
     "Read, write and search files under allowed directories", (), ("${MCPFLEET_SERVER_DATA}",)),
    ("memory", ("knowledge-graph",), "npm", MCP + "server-memory", "2026.8.31",
     "Knowledge-graph memory kept in a JSON file",
     ("MEMORY_FILE_PATH=${MCPFLEET_SERVER_DATA}/memory.json",), ()),
    ("everything", ("reference",), "npm", MCP + "server-everything", "2026.8.31",
     "The MCP reference server: every protocol feature, for testing clients", (), ()),
    ("sequential-thinking", ("thinking",), "npm", MCP + "server-sequential-thinking", "2026.8.31",
     "Structured step-by-step problem solving", (), ()),
    ("time", ("clock", "timezone"), "pypi", "mcp-server-time", "2026.10.19",
     "Current time and time-zone conversion", (), ()),
    ("fetch", ("web-fetch",), "pypi", "mcp-server-fetch", "2026.10.24",
     "Fetch a web page and turn it into markdown", (), ()),
    ("git", (), "pypi", "mcp-server-git", "2026.10.19",
     "Read, search and change local Git repositories", (), ()),
    ("sqlite", (), "pypi", "mcp-server-sqlite", "2025.4.25", "Query and change a SQLite database", (),
     ("--db-path", "${MCPFLEET_SERVER_DATA}/sqlite.db")),
    ("postgres", ("postgresql", "pg"), "npm", MCP + "server-postgres", "0.6.2",
     "Read-only SQL access to a PostgreSQL database", ("POSTGRES_URL!",), ("${POSTGRES_URL}",)),
    ("github", ("gh",), "oci", "ghcr.io/github/github-mcp-server", "latest",
     "GitHub: repositories, issues, pull requests, actions", ("GITHUB_PERSONAL_ACCESS_TOKEN!",), ("stdio",)),
    ("brave-search", ("search", "brave", "web-search"), "npm", MCP + "server-brave-search", "0.6.2",
     "Web and local search with the Brave Search API", ("BRAVE_API_KEY!",), ()),
    ("puppeteer", ("browser",), "npm", MCP + "server-puppeteer", "2025.5.12",
     "Browser automation with Puppeteer", (), ()),
    ("playwright", (), "npm", "@playwright/mcp", "0.0.83", "Browser automation with Playwright", (), ()),
    ("slack", (), "npm", MCP + "server-slack", "2025.4.25", "Read and post Slack messages",
     ("SLACK_BOT_TOKEN!", "SLACK_TEAM_ID"), ()),
    ("redis", (), "npm", MCP + "server-redis", "2025.4.25", "Read and write keys in Redis", (),
     ("${REDIS_URL:-redis://127.0.0.1:6379}",)),
    ("gdrive", ("google-drive",), "npm", MCP + "server-gdrive", "2025.1.14", "Search and read Google Drive",
     ("GDRIVE_CREDENTIALS_PATH",), ()),
    ("google-maps", ("maps",), "npm", MCP + "server-google-maps", "0.6.2",
     "Geocoding, places and directions", ("GOOGLE_MAPS_API_KEY!",), ()),
    ("gitlab", (), "npm", MCP + "server-gitlab", "2025.4.25", "GitLab projects, issues and merge requests",
     ("GITLAB_PERSONAL_ACCESS_TOKEN!", "GITLAB_API_URL=https://gitlab.com/api/v4"), ()),
    ("aws-kb-retrieval", ("aws-kb",), "npm", MCP + "server-aws-kb-retrieval", "0.6.2",
     "Retrieval from AWS Bedrock knowledge bases",
     ("AWS_ACCESS_KEY_ID!", "AWS_SECRET_ACCESS_KEY!", "AWS_REGION"), ()),
    ("everart", (), "npm", MCP + "server-everart", "0.6.2", "Image generation with EverArt",
     ("EVERART_API_KEY!",), ()),
    ("sentry", (), "pypi", "mcp-server-sentry", "2025.1.14", "Read Sentry issues and events",
     ("SENTRY_TOKEN!",), ("--auth-token", "${SENTRY_TOKEN}")),
    ("notion", (), "npm", "@notionhq/notion-mcp-server", "2.5.2", "Notion pages and databases",
     ("NOTION_TOKEN!",), ()),
    ("context7", ("docs",), "npm", "@upstash/context7-mcp", "4.1.1",
     "Up-to-date library documentation for prompts", (), ()),
    ("duckduckgo", ("ddg",), "pypi", "duckduckgo-mcp-server", "0.7.0", "Web search with DuckDuckGo", (), ()),
    ("kubernetes", ("k8s",), "npm", "mcp-server-kubernetes", "4.1.7",
     "Manage Kubernetes resources with the current kubeconfig", ("KUBECONFIG?",), ()),
    ("docker", (), "pypi", "mcp-server-docker", "0.3.0",
     "Manage Docker containers, images and volumes", (), ()),
    ("stripe", (), "npm", "@stripe/mcp", "0.3.3", "Stripe payments API", ("STRIPE_SECRET_KEY!",),
     ("--tools=all", "--api-key=${STRIPE_SECRET_KEY}")),
    ("tavily", (), "npm", "tavily-mcp", "0.2.22", "Search and extract with Tavily", ("TAVILY_API_KEY!",), ()),
    ("grafana", (), "oci", "mcp/grafana", "latest", "Grafana dashboards, data sources and alerts",
     ("GRAFANA_URL", "GRAFANA_API_KEY!"), ()),
]  # fmt: skip


def _env(spec: str) -> EnvironmentVariable:
    secret = spec.endswith("!")
    spec = spec.rstrip("!")
    name, eq, default = spec.partition("=")
    optional = name.endswith("?") or bool(eq)
    return EnvironmentVariable(
        name=name.rstrip("?"), is_required=not optional, is_secret=secret, default=default if eq else None
    )


def _server(
    row: tuple[str, tuple[str, ...], str, str, str, str, tuple[str, ...], tuple[str, ...]],
) -> ServerJson:
    name, _aliases, kind, identifier, version, description, env, args = row
    package = Package(
        registry_type=kind,
        identifier=identifier,
        version=version,
        environment_variables=[_env(e) for e in env],
        package_arguments=[Argument(type="positional", value=a) for a in args],
    )
    return ServerJson(
        name=f"mcpfleet.builtin/{name}", description=description, version=version, packages=[package]
    )


GITHUB_REMOTE = ServerJson(
    name="mcpfleet.builtin/github-remote",
    description="GitHub's hosted MCP server (remote, streamable HTTP)",
    remotes=[
        Remote(
            url="https://api.githubcopilot.com/mcp/",
            headers=[
                EnvironmentVariable(
                    name="Authorization",
                    value="Bearer ${GITHUB_PERSONAL_ACCESS_TOKEN}",
                    is_required=True,
                    is_secret=True,
                )
            ],
        )
    ],
)

# short name -> (aliases, server.json)
BUILTIN: dict[str, tuple[tuple[str, ...], ServerJson]] = {
    **{row[0]: (row[1], _server(row)) for row in _ROWS},
    "github-remote": ((), GITHUB_REMOTE),
}
