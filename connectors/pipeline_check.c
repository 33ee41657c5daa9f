/* placeholder */
#include "connectors/connector.h"
static int check_main(int argc, char **argv) { return 2; }
const struct weir_command weir_command_check = {.name = "check", .usage = "weir check PIPELINE", .help = "x\n", .main = check_main};
