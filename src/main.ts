// Entry point: reads configuration, starts the platform, stops it gracefully on SIGTERM / SIGINT.
import { ConfigError, loadConfig } from './config/config.js';
import { createLogger } from './kernel/logger.js';
import { startPlatform } from './platform.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  const logger = createLogger(config.logLevel);
  const platform = await startPlatform(config, logger);
  const onSignal = (signal: string) => {
    logger.info('signal received', { signal });
    platform.stop().then(() => process.exit(0), (e: unknown) => {
      logger.error('shutdown failed', { error: String(e) });
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
