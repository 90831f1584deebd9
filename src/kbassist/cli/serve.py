"""``kbassist serve`` (the HTTP service) and ``kbassist keys add`` (API keys for it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kbassist.api.auth import KeyConfigError, KeyRing, Role, append_key, describe, is_loopback, new_key
from kbassist.cli.app import ExitCode, IndexOption, app, console, errors, fail, open_searcher
from kbassist.settings import Settings

keys_app = typer.Typer(help="管理 HTTP 服务的 API 密钥（密钥文件只保存 SHA-256 哈希）", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="监听地址（默认 KBASSIST_HOST 或 127.0.0.1）")] = None,
    port: Annotated[
        int | None, typer.Option("--port", "-p", min=1, max=65535, help="端口（默认 KBASSIST_PORT 或 8000）")
    ] = None,
    index: IndexOption = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="记录访问日志（不含请求体）")] = True,
) -> None:
    """启动坐席侧边栏使用的 HTTP 服务（检索、条目、反馈、报表）。"""
    import uvicorn

    from kbassist.api.app import create_app
    from kbassist.api.logs import log_config

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    if index is not None:
        settings = settings.model_copy(update={"index_dir": index})
    try:
        keys = KeyRing.from_settings(settings)
    except KeyConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    if keys.dev_mode:
        if not is_loopback(host):
            fail(
                f"未配置 API 密钥，拒绝在非本机地址 {host} 上启动。请设置 KBASSIST_KEYS_FILE"
                "（用 `kbassist keys add --role agent` 生成密钥）或 KBASSIST_API_KEYS=agent:…,admin:…",
                ExitCode.USAGE,
            )
        errors.print("[bold yellow]警告：[/]未配置 API 密钥，以开发模式运行：所有请求按管理员处理，仅监听本机地址。")
    else:
        console.print(f"API 密钥：{describe(keys.roles.values())}")
    searcher = open_searcher(settings.index_dir, settings)
    console.print(
        f"索引版本 {searcher.version}（{len(searcher.entries)} 条），服务地址 http://{host}:{port}", soft_wrap=True
    )
    uvicorn.run(
        create_app(settings, searcher, keys),
        host=host,
        port=port,
        log_config=log_config(settings.log_level),
        log_level=settings.log_level,
        access_log=access_log,
        server_header=False,
    )


@keys_app.command("add")
def keys_add(
    role: Annotated[str, typer.Option("--role", "-r", help="agent（坐席）或 admin（管理员）")] = "agent",
    keys_file: Annotated[Path | None, typer.Option("--keys-file", help="密钥文件（默认 KBASSIST_KEYS_FILE）")] = None,
    label: Annotated[str | None, typer.Option("--label", help="备注，写在哈希后的注释里，例如坐席组名")] = None,
) -> None:
    """生成一个新密钥：只显示这一次，文件里只追加它的 SHA-256。"""
    try:
        wanted = Role(role.strip().lower())
    except ValueError:
        fail(f"未知角色 {role!r}，可选：agent / admin", ExitCode.USAGE)
    path = keys_file or Settings().keys_file
    if path is None:
        fail("请用 --keys-file 或环境变量 KBASSIST_KEYS_FILE 指定密钥文件", ExitCode.USAGE)
    if label and ("\n" in label or "\r" in label):
        fail("备注不能换行", ExitCode.USAGE)
    key = new_key()
    append_key(path, wanted, key, label)
    errors.print(f"已将 {wanted.value} 密钥的哈希追加到 {path}。密钥只显示这一次，请立即保存：")
    print(key)
