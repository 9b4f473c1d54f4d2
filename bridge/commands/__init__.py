"""
The `kyc-bridge` command line: `cli` parses arguments and builds the settings
once; one module per command group (`config`, `spool`, `dlq`, `argos`,
`simulate`). Commands are the outermost layer: they may import anything in the
package, and nothing in the package imports them.
"""
