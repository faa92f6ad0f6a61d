"""The built-in catalog: well-known MCP servers under short names, in ``server.json`` form.

Package names and versions are as published on npm, PyPI and GitHub's container registry;
versions are pinned where a release is known to work, else "latest". What a server needs from
the user is declared the registry's way (required / secret environment variables, arguments
with a ``valueHint``), so :func:`~mcpfleet.catalog.convert.to_server_spec` turns it into
``${NAME}`` references. ``${MCPFLEET_SERVER_DATA}`` is the server's own data folder.

A package whose own dependencies moved on since its release is pinned to what works (a
:class:`PinnedPackage`: PyPI ``constraints``, npm ``overrides``, a ``python`` version): they
go into the fleet file with the server, so its install is the one that was tried.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from mcpfleet.catalog.schema import Argument, EnvironmentVariable, Input, Package, Remote, ServerJson

__all__ = ["PinnedPackage", "builtin_servers"]

MCP = "@modelcontextprotocol/"
DATA = "${MCPFLEET_SERVER_DATA}"


def secret(name: str, description: str = "") -> EnvironmentVariable:
    return EnvironmentVariable(name=name, description=description, is_required=True, is_secret=True)


def required(name: str, description: str = "") -> EnvironmentVariable:
    return EnvironmentVariable(name=name, description=description, is_required=True)


def optional(name: str, description: str = "", default: str | None = None) -> EnvironmentVariable:
    return EnvironmentVariable(name=name, description=description, default=default)


def fixed(name: str, value: str) -> EnvironmentVariable:
    return EnvironmentVariable(name=name, value=value)


def arg(value: str) -> Argument:
    """A positional argument with a fixed value."""
    return Argument(type="positional", value=value)


def option(flag: str, value: str) -> Argument:
    """A named argument with a fixed value: ``--flag value``."""
    return Argument(type="named", name=flag, value=value)


def ask(
    hint: str,
    description: str,
    *,
    is_secret: bool = False,
    flag: str | None = None,
    default: str | None = None,
) -> Argument:
    """An argument the user provides (``${HINT}``, or ``${HINT:-default}``), positional or after ``flag``."""
    return Argument(
        type="named" if flag else "positional",
        name=flag,
        value_hint=hint,
        description=description,
        is_required=True,
        is_secret=is_secret,
        default=default,
    )


class PinnedPackage(Package):
    """A built-in package with what it needs beyond ``server.json``: constraints on its PyPI
    dependencies, overrides of its npm dependencies, the Python its venv needs."""

    constraints: tuple[str, ...] = ()
    overrides: Mapping[str, str] = Field(default_factory=dict)
    python: str | None = None


def npm(
    identifier: str,
    version: str,
    *env: EnvironmentVariable,
    args: tuple[Argument, ...] = (),
    overrides: Mapping[str, str] | None = None,
) -> Package:
    return PinnedPackage(
        registry_type="npm",
        identifier=identifier,
        version=version,
        runtime_hint="npx",
        environment_variables=list(env),
        package_arguments=list(args),
        overrides=dict(overrides or {}),
    )


def pypi(
    identifier: str,
    version: str,
    *env: EnvironmentVariable,
    args: tuple[Argument, ...] = (),
    constraints: tuple[str, ...] = (),
    python: str | None = None,
) -> Package:
    return PinnedPackage(
        registry_type="pypi",
        identifier=identifier,
        version=version,
        runtime_hint="uvx",
        environment_variables=list(env),
        package_arguments=list(args),
        constraints=constraints,
        python=python,
    )


def oci(identifier: str, version: str, *env: EnvironmentVariable, args: tuple[Argument, ...] = ()) -> Package:
    return Package(
        registry_type="oci",
        identifier=identifier,
        version=version,
        runtime_hint="docker",
        environment_variables=list(env),
        package_arguments=list(args),
    )


def bearer(variable: str, description: str) -> EnvironmentVariable:
    """An ``Authorization: Bearer ...`` header whose token is ``${variable}``."""
    token = Input(description=description, is_required=True, is_secret=True)
    return EnvironmentVariable(
        name="Authorization", value=f"Bearer {{{variable}}}", variables={variable: token}
    )


Builtin = tuple[str, tuple[str, ...], ServerJson]


def entry(name: str, aliases: tuple[str, ...], description: str, how: Package | Remote) -> Builtin:
    packages, remotes = ([how], []) if isinstance(how, Package) else ([], [how])
    version = how.version if isinstance(how, Package) and how.version else "latest"
    server = ServerJson(
        name=f"mcpfleet.builtin/{name}",
        description=description,
        version=version,
        packages=packages,
        remotes=remotes,
    )
    return name, aliases, server


def builtin_servers() -> list[Builtin]:
    """``(name, aliases, server.json)`` of every built-in entry, most used first."""
    return [
        # The reference servers of the MCP project.
        entry("filesystem", ("fs", "files"), "Read, write and search files in allowed folders",
              npm(MCP + "server-filesystem", "2026.8.31", args=(arg(DATA),))),
        entry("memory", ("knowledge-graph",), "Knowledge-graph memory kept in a JSON file",
              npm(MCP + "server-memory", "2026.8.31", fixed("MEMORY_FILE_PATH", DATA + "/memory.json"))),
        entry("everything", ("reference",), "The MCP reference server: every protocol feature, for testing",
              npm(MCP + "server-everything", "2026.8.31")),
        entry("sequential-thinking", ("thinking",), "Structured, revisable step-by-step problem solving",
              npm(MCP + "server-sequential-thinking", "2026.8.31")),
        entry("time", ("clock", "timezone"), "Current time and time-zone conversion",
              pypi("mcp-server-time", "2026.10.19")),
        entry("fetch", ("web-fetch",), "Fetch a web page and turn it into markdown",
              pypi("mcp-server-fetch", "2026.10.24")),
        entry("git", (), "Read, search and change a local Git repository",
              pypi("mcp-server-git", "2026.10.19")),
        # Its last release predates mcp 2 (no more Server.list_resources): hold mcp below 2.
        entry("sqlite", ("sqlite3",), "Query and change a SQLite database",
              pypi("mcp-server-sqlite", "2025.4.25", args=(option("--db-path", DATA + "/sqlite.db"),),
                   constraints=("mcp<2",))),
        entry("postgres", ("postgresql", "pg"), "Read-only SQL access to a PostgreSQL database",
              npm(MCP + "server-postgres", "0.6.2",
                  args=(ask("postgres_url", "postgresql://user:password@host/db", is_secret=True),))),
        entry("redis", (), "Read and write keys in Redis",
              npm(MCP + "server-redis", "2025.4.25",
                  args=(ask("redis_url", "redis://host:port", default="redis://127.0.0.1:6379"),))),
        entry("puppeteer", (), "Browser automation with Puppeteer and headless Chrome",
              npm(MCP + "server-puppeteer", "2025.5.12")),
        entry("slack", (), "Read channels and post messages in a Slack workspace",
              npm(MCP + "server-slack", "2025.4.25", secret("SLACK_BOT_TOKEN", "xoxb-... bot token"),
                  required("SLACK_TEAM_ID", "workspace ID, T..."), optional("SLACK_CHANNEL_IDS"))),
        entry("gdrive", ("google-drive",), "Search and read files in Google Drive",
              npm(MCP + "server-gdrive", "2025.1.14",
                  required("GDRIVE_CREDENTIALS_PATH", "credentials saved by the server's `auth` step"),
                  optional("GDRIVE_OAUTH_PATH", "gcp-oauth.keys.json of your Google Cloud app"))),
        entry("google-maps", ("maps",), "Geocoding, places, directions and distances",
              npm(MCP + "server-google-maps", "0.6.2", secret("GOOGLE_MAPS_API_KEY"))),
        entry("gitlab", (), "GitLab projects, files, issues and merge requests",
              npm(MCP + "server-gitlab", "2025.4.25", secret("GITLAB_PERSONAL_ACCESS_TOKEN"),
                  optional("GITLAB_API_URL", "API of a self-hosted GitLab", "https://gitlab.com/api/v4"))),
        entry("aws-kb-retrieval", ("aws-kb",), "Retrieval from AWS Bedrock knowledge bases",
              npm(MCP + "server-aws-kb-retrieval", "0.6.2", secret("AWS_ACCESS_KEY_ID"),
                  secret("AWS_SECRET_ACCESS_KEY"), required("AWS_REGION"))),
        entry("everart", (), "Image generation with EverArt",
              npm(MCP + "server-everart", "0.6.2", secret("EVERART_API_KEY"))),
        # Servers published by the services themselves.
        entry("github", ("gh",), "GitHub: repositories, issues, pull requests, actions",
              oci("ghcr.io/github/github-mcp-server", "latest",
                  secret("GITHUB_PERSONAL_ACCESS_TOKEN", "a GitHub personal access token"),
                  args=(arg("stdio"),))),
        entry("github-remote", (), "GitHub's hosted MCP server (no local install)",
              Remote(url="https://api.githubcopilot.com/mcp/",
                     headers=[bearer("GITHUB_PERSONAL_ACCESS_TOKEN", "a GitHub personal access token")])),
        entry("brave-search", ("search", "brave", "web-search"), "Web, news, image and local search (Brave)",
              npm("@brave/brave-search-mcp-server", "2.1.4",
                  secret("BRAVE_API_KEY", "from https://brave.com/search/api/"))),
        entry("playwright", ("browser",), "Browser automation with Playwright, by accessibility snapshots",
              npm("@playwright/mcp", "0.0.83")),
        entry("sentry", (), "Sentry issues, events, traces and projects",
              npm("@sentry/mcp-server", "0.39.0", secret("SENTRY_ACCESS_TOKEN"),
                  optional("SENTRY_HOST", "host of a self-hosted Sentry"))),
        entry("notion", (), "Notion pages, databases and comments",
              npm("@notionhq/notion-mcp-server", "2.5.2", secret("NOTION_TOKEN", "an integration token"))),
        entry("context7", ("docs",), "Up-to-date library documentation and code examples",
              npm("@upstash/context7-mcp", "4.1.1", optional("CONTEXT7_API_KEY", "for higher rate limits"))),
        entry("stripe", (), "Stripe payments API: customers, products, invoices",
              npm("@stripe/mcp", "0.3.3", secret("STRIPE_SECRET_KEY"), args=(arg("--tools=all"),))),
        entry("kubernetes", ("k8s",), "Kubernetes resources through the current kubeconfig",
              npm("mcp-server-kubernetes", "4.1.7", optional("KUBECONFIG"))),
        entry("mongodb", ("mongo",), "Query and manage MongoDB databases and Atlas",
              npm("mongodb-mcp-server", "3.0.4", secret("MDB_MCP_CONNECTION_STRING", "mongodb://..."))),
        entry("firecrawl", (), "Scrape, crawl and search the web with Firecrawl",
              npm("firecrawl-mcp", "3.26.0", secret("FIRECRAWL_API_KEY"))),
        entry("exa", (), "Web search and content fetching with Exa",
              npm("exa-mcp-server", "3.4.1", secret("EXA_API_KEY"))),
        entry("tavily", (), "Search and extract web content with Tavily",
              npm("tavily-mcp", "0.2.22", secret("TAVILY_API_KEY"))),
        entry("grafana", (), "Grafana dashboards, data sources, alerts and incidents",
              oci("mcp/grafana", "latest", required("GRAFANA_URL", "e.g. http://localhost:3000"),
                  secret("GRAFANA_SERVICE_ACCOUNT_TOKEN"), args=(arg("-t"), arg("stdio")))),
        entry("duckduckgo", ("ddg",), "Web search with DuckDuckGo, no API key",
              pypi("duckduckgo-mcp-server", "0.7.0")),
        entry("docker", (), "Manage Docker containers, images, networks and volumes",
              pypi("mcp-server-docker", "0.3.0", python="3.12")),  # it requires Python 3.12+
        entry("deepwiki", (), "Questions about public GitHub repositories (hosted by Devin)",
              Remote(url="https://mcp.deepwiki.com/mcp")),
    ]  # fmt: skip
