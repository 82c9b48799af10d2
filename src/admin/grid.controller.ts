import { Controller, Get, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminAuthGuard } from '../http/auth/admin-auth.guard';
import { ApiAdminProblems } from '../http/problem.dto';
import { GridDto } from './dto/grid.dto';
import { GridAdminService } from './grid-admin.service';

@ApiTags('grid')
@ApiBearerAuth('bearer')
@UseGuards(AdminAuthGuard)
@Controller('admin/grid')
export class GridController {
  constructor(private readonly grid: GridAdminService) {}

  @Get()
  @ApiOperation({ summary: 'Storage servers, how many are connected, happiness and space', operationId: 'getGrid' })
  @ApiOkResponse({ type: GridDto })
  @ApiAdminProblems(502, 503)
  status(): Promise<GridDto> {
    return this.grid.status();
  }
}
